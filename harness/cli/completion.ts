// Shell completion for bash and zsh, printed by `cnilab completion bash|zsh` (source it, or let the
// install step put it where bash-completion finds it): commands, each command's flags (from the same
// help the commands answer with), mode names after --modes/--mode/switch, files after --topology,
// --manifest, --kubeconfig and conform. The script asks nothing of cnilab at completion time.
import { COMMAND_HELP } from './help.ts';

const FILE_FLAGS = ['--topology', '--manifest', '--kubeconfig', '--expectations', '--out'];

export function completionScript(shell: 'bash' | 'zsh', modes: readonly string[]): string {
  const cases = Object.entries(COMMAND_HELP)
    .map(([cmd, h]) => `    ${cmd}) flags="${h.flags.map(([f]) => f.split(' ')[0]).join(' ')} --help" ;;`)
    .join('\n');
  const bash = `# cnilab completion (bash): source <(cnilab completion bash)
_cnilab() {
  local cur prev cmd flags
  cur=\${COMP_WORDS[COMP_CWORD]}
  prev=\${COMP_WORDS[COMP_CWORD-1]}
  cmd=\${COMP_WORDS[1]}
  local modes="${modes.join(' ')}"
  if [ "$COMP_CWORD" -eq 1 ]; then
    COMPREPLY=($(compgen -W "${Object.keys(COMMAND_HELP).join(' ')} help --help --version" -- "$cur"))
    return
  fi
  case "$prev" in
    --modes)
      # A list: complete the word after the last comma, and keep what comes before it.
      COMPREPLY=($(compgen -W "$modes" -- "\${cur##*,}"))
      [ "\${cur%,*}" != "$cur" ] && COMPREPLY=("\${COMPREPLY[@]/#/\${cur%,*},}")
      return ;;
    --mode) COMPREPLY=($(compgen -W "$modes" -- "$cur")); return ;;
    ${FILE_FLAGS.join('|')}) COMPREPLY=($(compgen -f -- "$cur")); return ;;
    --backend) COMPREPLY=($(compgen -W "netns uml qemu kind auto" -- "$cur")); return ;;
    help) COMPREPLY=($(compgen -W "${Object.keys(COMMAND_HELP).join(' ')}" -- "$cur")); return ;;
  esac
  case "$cmd" in
${cases}
    *) flags="" ;;
  esac
  if [[ "$cur" == -* ]]; then COMPREPLY=($(compgen -W "$flags" -- "$cur"))
  elif [ "$cmd" = switch ]; then COMPREPLY=($(compgen -W "$modes" -- "$cur"))
  elif [ "$cmd" = conform ] || [ "$cmd" = compare ]; then COMPREPLY=($(compgen -f -- "$cur"))
  fi
}
complete -F _cnilab cnilab ./bin/cnilab
`;
  // zsh runs bash's completion functions through bashcompinit.
  return shell === 'bash'
    ? bash
    : `# cnilab completion (zsh): source <(cnilab completion zsh)\nautoload -U +X bashcompinit && bashcompinit\n${bash}`;
}
