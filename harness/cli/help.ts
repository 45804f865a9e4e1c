// What each command answers to --help, -h and `cnilab help CMD`: its usage, what it does, every flag
// with its default, and an example. A test holds each command's flags here against the flags its
// parser accepts, so the two cannot drift apart.
import goTools from '../../ci/go-tools.json' with { type: 'json' };
import pkg from '../../package.json' with { type: 'json' };

export interface CommandHelp {
  usage: string;
  about: string;
  /** [flag with its argument, what it does and its default]. */
  flags: [string, string][];
  example: string;
}

const NAME: [string, string] = ['--name LAB', 'the lab (default: the only lab up)'];

export const COMMAND_HELP: Record<string, CommandHelp> = {
  run: {
    usage: 'cnilab run [flags]',
    about:
      'Builds the lab, runs every mode asked, probes every pod pair while capturing the underlay, judges\n' +
      'the wire against what each mode must show, tears down; exit 1 on a mismatch.',
    flags: [
      ['--topology FILE', 'the lab (default topologies/two-subnets.yaml)'],
      ['--modes a,b', 'the modes, in order (default: all; "cnilab modes" lists them)'],
      ['--out DIR', 'results.json, report.md, report.html, junit.xml, pcaps (default ./out)'],
      ['--name LAB', 'the lab name (default: random)'],
      ['--count N', 'echo requests per pod pair (default 3)'],
      ['--backend B', 'netns, uml, qemu, kind or auto (default auto: this kernel, then a guest)'],
      ['--resume', 'run only the modes not done in --out'],
      ['--verbose', "every pair and a guest's console (default: failing pairs, guest steps)"],
      ['--quiet', 'only the summary'],
      ['--manifest F', "your kube-flannel.yml or calico.yaml (repeatable) on the lab's API server"],
      ['--kubeconfig F', 'with --backend kind: a kind cluster of yours'],
      ['--perf', 'then measure RTT, throughput, CPU per GB and MTU per mode against the underlay'],
      ['--budget S', 'with --perf: seconds for the whole run (default 180)'],
      ['--target PCT', 'with --perf: stop when every ratio is within ±PCT% (default 5)'],
      ['--margin PCT', 'with --perf: and every two modes are faster, slower or within ±PCT% (default 3)'],
      ['--rounds N', 'with --perf: rounds at least (default 3)'],
      ['--seconds S', 'with --perf: length of a throughput test (default 0.25)'],
      ['--streams P', 'with --perf: parallel streams once per mode (default 4)'],
      ['--rtt-count N', 'with --perf: ping samples per path and round'],
    ],
    example: 'sudo ./bin/cnilab run --modes flannel-vxlan,calico-bgp --out out',
  },
  up: {
    usage: 'cnilab up --mode M [flags] | cnilab up --manifest F [--mode M] [flags]',
    about: 'Builds a lab in one mode and leaves it up for switch, check, status and down.',
    flags: [
      ['--mode M', 'the mode to program (required without --manifest)'],
      ['--topology FILE', 'the lab (default topologies/two-subnets.yaml)'],
      ['--name LAB', 'the lab name (default: random)'],
      ['--manifest F', "kube-flannel.yml or calico.yaml on the lab's API server (--mode: patched to it)"],
    ],
    example: 'sudo ./bin/cnilab up --mode flannel-vxlan --name demo',
  },
  switch: {
    usage: 'cnilab switch MODE [flags]',
    about:
      'Switches a live lab to another mode, then proves nothing of the previous one is left; a failed\n' +
      'switch rolls back. A real daemon is restarted with the new backend.',
    flags: [NAME, ['--keep-leftovers', 'keep what the daemon left of its old backend (default: recorded, then removed)']],
    example: 'sudo ./bin/cnilab switch calico-vxlan-crosssubnet --name demo',
  },
  check: {
    usage: 'cnilab check [flags]',
    about: "Probes and captures the live lab's current mode and judges the wire.",
    flags: [NAME, ['--out DIR', 'pcaps (default ./out)'], ['--count N', 'echo requests per pod pair (default 3)']],
    example: 'sudo ./bin/cnilab check --name demo',
  },
  status: {
    usage: 'cnilab status [flags]',
    about: "A lab's mode, nodes, pods and health, from its state file set against the kernel.",
    flags: [NAME, ['--json', 'as JSON']],
    example: './bin/cnilab status --json',
  },
  down: {
    usage: 'cnilab down [--name LAB [--force] | --all]',
    about: 'Removes a lab (or every lab up) and all it made.',
    flags: [NAME, ['--all', 'every lab no live run owns'], ['--force', 'also a lab a live run owns']],
    example: 'sudo ./bin/cnilab down --name demo',
  },
  gc: {
    usage: 'cnilab gc',
    about: "Reaps what dead runs left: labs whose owner died, namespaces no lab claims, guests' folders.",
    flags: [],
    example: 'sudo ./bin/cnilab gc',
  },
  install: {
    usage: 'cnilab install NAME... | --all',
    about:
      'Builds real daemons from their Go modules now, cached by version (ci/go-tools.json names them).\n' +
      'A plain run builds only what it uses; the first --manifest builds kube-apiserver.',
    flags: [['--all', 'every one (kind only where Docker runs)']],
    example: 'sudo ./bin/cnilab install kube-apiserver',
  },
  completion: {
    usage: 'cnilab completion bash|zsh',
    about: 'Prints shell completion: commands, flags, mode names, files (the install step installs it).',
    flags: [],
    example: 'source <(./bin/cnilab completion bash)',
  },
  doctor: {
    usage: 'cnilab doctor [flags]',
    about: 'What this kernel and host can do, the real daemons with their versions, and where each mode runs.',
    flags: [['--json', 'as JSON']],
    example: './bin/cnilab doctor',
  },
  modes: {
    usage: 'cnilab modes [flags]',
    about: 'What each mode programs and must show on the wire.',
    flags: [['--json', 'as JSON']],
    example: './bin/cnilab modes --json',
  },
  compare: {
    usage: 'cnilab compare A/results.json B/results.json',
    about: 'What changed between two runs, beyond the noise; exit 1 on a regression.',
    flags: [],
    example: './bin/cnilab compare before/results.json after/results.json',
  },
  conform: {
    usage: 'cnilab conform FILE|DIR ... [flags]',
    about:
      'Your CNI config (kube-flannel.yml, net-conf.json, calico.yaml, IPPool, Installation): its data\n' +
      'plane with sources, what is wrong, what each pod path does, and a lab that proves it on the wire.',
    flags: [
      ['--topology FILE', "the lab (default: placed clear of the config's pod network)"],
      ['--out DIR', 'reports (default ./out when it proves on the wire)'],
      ['--name LAB', 'the lab name (default: random)'],
      ['--lint-only', 'no lab, no root'],
      ['--explain', 'what each pod path does'],
      ['--expect PATH=WIRE', 'the intended wire per path (repeatable), e.g. cross-subnet=vxlan'],
      ['--expectations F', 'the intended wire per path, from a file'],
      ['--fail-on L', 'error (default) or warning'],
    ],
    example: './bin/cnilab conform kube-flannel.yml --lint-only --explain',
  },
  agent: {
    usage: 'cnilab agent --dir DIR',
    about: "Runs inside a guest: answers the host session's requests (not for people).",
    flags: [['--dir DIR', 'the shared folder of requests and answers']],
    example: 'cnilab agent --dir /cnilab-ctl',
  },
};

export function commandHelp(cmd: string): string {
  const h = COMMAND_HELP[cmd]!;
  const width = Math.max(0, ...h.flags.map(([f]) => f.length));
  const flags = h.flags.map(([f, what]) => `  ${f.padEnd(width)}  ${what}`).join('\n');
  return `usage: ${h.usage}\n\n${h.about}\n${flags ? `\nflags:\n${flags}\n` : ''}\nexample:\n  ${h.example}`;
}

/** cnilab's version and the daemons' it builds, pinned in ci/go-tools.json. */
export function versionText(): string {
  const tools = Object.entries(goTools as Record<string, { version: string }>).map(([name, t]) => `  ${name} ${t.version}`);
  return `cnilab ${pkg.version}\n${tools.join('\n')}`;
}
