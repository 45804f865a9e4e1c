# A TCP door from the host into a lab namespace: listens on 127.0.0.1 in the namespace it starts in
# (the host's), then moves into the lab namespace, so every connection it opens from there reaches
# an address only that namespace can reach (the lab's kube-apiserver). A listening socket keeps the
# namespace it was made in; sockets made after setns belong to the lab's. It prints its port, then
# serves until killed; the process sits in the lab's namespace, so the lab's teardown finds it.
# Usage: ns-forward.py NETNS_PATH TARGET_IP TARGET_PORT
import os
import socket
import sys
import threading

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))  # -I keeps the helper's dir off sys.path
import netns_enter  # noqa: E402


def pump(src, dst):
    try:
        while True:
            b = src.recv(65536)
            if not b:
                break
            dst.sendall(b)
    except OSError:
        pass
    finally:
        for s in (src, dst):
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass


def serve(conn, target):
    try:
        up = socket.create_connection(target, timeout=5)
        up.settimeout(None)
    except OSError:
        conn.close()
        return
    threading.Thread(target=pump, args=(conn, up), daemon=True).start()
    pump(up, conn)
    conn.close()
    up.close()


def main():
    netns, ip, port = sys.argv[1], sys.argv[2], int(sys.argv[3])
    lsock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    lsock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    lsock.bind(('127.0.0.1', 0))
    lsock.listen(64)
    netns_enter.enter(netns)
    print(lsock.getsockname()[1], flush=True)
    while True:
        conn, _ = lsock.accept()
        threading.Thread(target=serve, args=(conn, (ip, port)), daemon=True).start()


if __name__ == '__main__':
    main()
