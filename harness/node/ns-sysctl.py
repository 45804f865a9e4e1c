#!/usr/bin/env python3
# Sysctls in many network namespaces from one process: /proc/sys/net answers for the namespace of
# whoever opens the file, so this enters each namespace (setns), writes, and comes back. A lab's
# build sets a few in every namespace; an nsenter + sh per namespace cost ~3 ms each.
# stdin: JSON [{"path": NETNS_FILE, "key": "net.ipv4.ip_forward", "value": "1"}, ...], written in
# order. stdout: {"done": N}, or {"failed": INDEX, "error": TEXT} (exit 1) at the first failure.
import json
import os
import sys

# Run isolated (python3 -I): the script's own folder is not on the path until added.
sys.path.insert(0, os.path.dirname(os.path.realpath(__file__)))
from netns_enter import enter, here, setns  # noqa: E402


def main():
    items = json.load(sys.stdin)
    home = here()
    current = None
    for i, it in enumerate(items):
        try:
            if it['path'] != current:
                enter(it['path'])
                current = it['path']
            with open('/proc/sys/' + it['key'].replace('.', '/'), 'w') as f:
                f.write(it['value'] + '\n')
        except OSError as e:
            setns(home)
            print(json.dumps({'failed': i, 'error': e.strerror or str(e)}))
            return 1
    setns(home)
    print(json.dumps({'done': len(items)}))
    return 0


if __name__ == '__main__':
    sys.exit(main())
