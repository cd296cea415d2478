import { type Command, InvalidArgumentError } from 'commander';

/**
 * `freightctl completion bash|zsh|fish`: a script generated from the command tree itself, so
 * every command and option registered is completed without a list kept by hand.
 */
export function completionCommand(program: Command, write: (s: string) => void): void {
  program
    .command('completion <shell>')
    .description('print a shell completion script: bash, zsh or fish')
    .addHelpText(
      'after',
      '\nExamples:\n  source <(freightctl completion bash)              # this shell\n' +
        '  freightctl completion bash > /etc/bash_completion.d/freightctl\n' +
        "  echo 'source <(freightctl completion zsh)' >> ~/.zshrc   # zsh, through its bash completion layer\n" +
        '  freightctl completion fish > ~/.config/fish/completions/freightctl.fish\n',
    )
    .action((shell: string) => {
      const tree = treeOf(program);
      if (shell === 'bash') return write(bashScript(tree));
      if (shell === 'zsh') return write(`#compdef freightctl\nautoload -U +X bashcompinit && bashcompinit\n${bashScript(tree)}`);
      if (shell === 'fish') return write(fishScript(tree));
      throw new InvalidArgumentError(`completion: expected bash, zsh or fish, got ${shell}`);
    });
}

interface Node {
  /** The subcommand words leading here ('' for freightctl itself). */
  path: string;
  subs: Array<{ name: string; description: string }>;
  options: Array<{ long?: string; short?: string; description: string }>;
}

function treeOf(root: Command): Node[] {
  const out: Node[] = [];
  const walk = (c: Command, path: string) => {
    out.push({
      path,
      subs: c.commands.map((s) => ({ name: s.name(), description: s.description() })),
      options: [...c.options, ...(path === '' ? [] : root.options)].map((o) => ({
        long: o.long,
        short: o.short,
        description: o.description,
      })),
    });
    for (const s of c.commands) walk(s, path ? `${path} ${s.name()}` : s.name());
  };
  walk(root, '');
  return out;
}

const words = (n: Node) => n.options.flatMap((o) => [o.long, o.short].filter(Boolean)).join(' ') + ' --help';

function bashScript(tree: Node[]): string {
  const subs = tree.map((n) => `    '${n.path}') echo '${n.subs.map((s) => s.name).join(' ')}' ;;`).join('\n');
  const opts = tree.map((n) => `    '${n.path}') echo '${words(n)}' ;;`).join('\n');
  return `# freightctl completion (bash): source <(freightctl completion bash)
_freightctl_subs() {
  case "$1" in
${subs}
  esac
}
_freightctl_opts() {
  case "$1" in
${opts}
  esac
}
_freightctl() {
  local cur="\${COMP_WORDS[COMP_CWORD]}" path="" w i
  for ((i = 1; i < COMP_CWORD; i++)); do
    w="\${COMP_WORDS[i]}"
    [[ "$w" == -* ]] && continue
    [[ " $(_freightctl_subs "$path") " == *" $w "* ]] && path="\${path:+$path }$w"
  done
  if [[ "$cur" == -* ]]; then
    COMPREPLY=($(compgen -W "$(_freightctl_opts "$path")" -- "$cur"))
  else
    COMPREPLY=($(compgen -W "$(_freightctl_subs "$path")" -- "$cur"))
  fi
}
complete -F _freightctl freightctl
`;
}

const fishQuote = (s: string) => `'${s.replace(/\\/g, '\\\\').replace(/'/g, "\\'")}'`;

function fishScript(tree: Node[]): string {
  const lines = ['# freightctl completion (fish)', 'complete -c freightctl -f'];
  for (const n of tree) {
    const seen = n.path.split(' ').filter(Boolean);
    // at this command's words, and before any of its subcommands
    const here = seen.length
      ? `__fish_seen_subcommand_from ${seen.at(-1)}` +
        (n.subs.length ? `; and not __fish_seen_subcommand_from ${n.subs.map((s) => s.name).join(' ')}` : '')
      : '__fish_use_subcommand';
    for (const s of n.subs) lines.push(`complete -c freightctl -n ${fishQuote(here)} -a ${s.name} -d ${fishQuote(s.description)}`);
    if (!seen.length) continue;
    for (const o of n.options) {
      const flags = [o.long && `-l ${o.long.replace(/^--/, '')}`, o.short && `-s ${o.short.replace(/^-/, '')}`].filter(Boolean).join(' ');
      lines.push(
        `complete -c freightctl -n ${fishQuote(`__fish_seen_subcommand_from ${seen.at(-1)}`)} ${flags} -d ${fishQuote(o.description)}`,
      );
    }
  }
  return lines.join('\n') + '\n';
}
