/**
 * `rtc-agent completion bash|zsh|fish`: a completion script made from the program itself (every
 * command, its flags, their choices, which take a file), so it cannot drift from the CLI.
 *   bash: source <(rtc-agent completion bash)     (or save it to ~/.local/share/bash-completion/completions/rtc-agent)
 *   zsh:  rtc-agent completion zsh > "${fpath[1]}/_rtc-agent"
 *   fish: rtc-agent completion fish > ~/.config/fish/completions/rtc-agent.fish
 */
import { Argument, Command, type Option } from 'commander';
import type { CliContext } from '../context.js';

const SHELLS = ['bash', 'zsh', 'fish'] as const;
type Shell = (typeof SHELLS)[number];

/** Values of options whose parsers check a fixed list commander does not know about. */
const KNOWN_VALUES: Record<string, readonly string[]> = {
  '--log-level': ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'],
  '--expires': ['15m', '1h', '12h', '7d', 'never'],
};

interface Flag {
  name: string;
  short?: string;
  description: string;
  takesValue: boolean;
  values?: readonly string[];
  file: boolean;
}

interface CommandSpec {
  name: string;
  description: string;
  flags: Flag[];
  /** The command's first argument is a file (send-file). */
  fileArgument: boolean;
  /** Fixed values of its first argument (completion's shells). */
  argumentValues?: readonly string[];
}

function flagOf(o: Option): Flag | undefined {
  if (o.hidden || o.long === undefined) return undefined;
  const takesValue = o.required || o.optional;
  const values = o.argChoices ?? KNOWN_VALUES[o.long];
  // `hub --path` is a URL path; every other <path> is a file.
  const file = takesValue && (/<(file|dir)>/.test(o.flags) || (/<path>/.test(o.flags) && o.long !== '--path'));
  const flag: Flag = { name: o.long, description: o.description, takesValue, file };
  if (o.short !== undefined) flag.short = o.short;
  if (values !== undefined) flag.values = values;
  return flag;
}

export function describeProgram(program: Command): CommandSpec[] {
  return program.commands
    .filter((c) => c.name() !== 'help')
    .map((c) => {
      const args = (c as Command & { registeredArguments: readonly Argument[] }).registeredArguments;
      const first = args[0];
      const spec: CommandSpec = {
        name: c.name(),
        description: c.description(),
        flags: [...c.options.map(flagOf).filter((f): f is Flag => f !== undefined), { name: '--help', short: '-h', description: 'display help', takesValue: false, file: false }],
        fileArgument: first !== undefined && /path|file/.test(first.name()),
      };
      if (first?.argChoices) spec.argumentValues = first.argChoices;
      return spec;
    });
}

const sq = (s: string): string => `'${s.replace(/'/g, `'\\''`)}'`;

export function bashScript(commands: CommandSpec[]): string {
  const names = commands.map((c) => c.name).join(' ');
  const cases = commands
    .map((c) => {
      const opts = c.flags.flatMap((f) => (f.short ? [f.name, f.short] : [f.name])).join(' ');
      const valueCases = c.flags
        .filter((f) => f.takesValue)
        .map((f) => `        ${f.name}) ${f.values ? `COMPREPLY=($(compgen -W ${sq(f.values.join(' '))} -- "$cur"))` : f.file ? 'COMPREPLY=($(compgen -f -- "$cur"))' : 'COMPREPLY=()'}; return ;;`)
        .join('\n');
      const args = c.argumentValues ? `COMPREPLY=($(compgen -W ${sq(c.argumentValues.join(' '))} -- "$cur"))` : c.fileArgument ? 'COMPREPLY=($(compgen -f -- "$cur"))' : 'COMPREPLY=()';
      return `    ${c.name})
      case "$prev" in
${valueCases || '        --) ;;'}
      esac
      if [[ "$cur" == -* ]]; then COMPREPLY=($(compgen -W ${sq(opts)} -- "$cur")); else ${args}; fi ;;`;
    })
    .join('\n');
  return `# rtc-agent completion for bash: source <(rtc-agent completion bash)
_rtc_agent() {
  local cur="\${COMP_WORDS[COMP_CWORD]}" prev="\${COMP_WORDS[COMP_CWORD-1]}" cmd="\${COMP_WORDS[1]}"
  if [[ $COMP_CWORD -eq 1 ]]; then
    COMPREPLY=($(compgen -W ${sq(`${names} help --help -h --version -v`)} -- "$cur"))
    return
  fi
  case "$cmd" in
${cases}
  esac
}
complete -o filenames -F _rtc_agent rtc-agent
`;
}

/** Text inside a zsh `_arguments` spec: brackets and colons are syntax there. */
const zq = (s: string): string => s.replace(/\\/g, '\\\\').replace(/([[\]:])/g, '\\$1').replace(/'/g, `'\\''`);

export function zshScript(commands: CommandSpec[]): string {
  const list = commands.map((c) => `    ${sq(`${c.name.replace(/:/g, '\\:')}:${c.description}`)}`).join('\n');
  const cases = commands
    .map((c) => {
      const specs = c.flags.map((f) => {
        const action = !f.takesValue ? '' : f.values ? `:value:(${f.values.join(' ')})` : f.file ? ':file:_files' : ':value: ';
        const names = f.short ? `{${f.short},${f.name}}` : f.name;
        return f.short ? `'(${f.short} ${f.name})'${names}'[${zq(f.description)}]${action}'` : `'${names}[${zq(f.description)}]${action}'`;
      });
      if (c.argumentValues) specs.push(`'1:shell:(${c.argumentValues.join(' ')})'`);
      else if (c.fileArgument) specs.push("'1:file:_files'");
      return `    ${c.name})\n      _arguments \\\n        ${specs.join(' \\\n        ')} ;;`;
    })
    .join('\n');
  return `#compdef rtc-agent
# rtc-agent completion for zsh: rtc-agent completion zsh > "\${fpath[1]}/_rtc-agent"
_rtc_agent() {
  local -a commands
  commands=(
${list}
  )
  if (( CURRENT == 2 )); then
    _describe 'command' commands
    return
  fi
  local cmd=$words[2]
  shift words
  (( CURRENT-- ))
  case $cmd in
${cases}
  esac
}
_rtc_agent "$@"
`;
}

export function fishScript(commands: CommandSpec[]): string {
  const lines = ['# rtc-agent completion for fish: rtc-agent completion fish > ~/.config/fish/completions/rtc-agent.fish', 'complete -c rtc-agent -f'];
  for (const c of commands) lines.push(`complete -c rtc-agent -n __fish_use_subcommand -a ${c.name} -d ${sq(c.description)}`);
  for (const c of commands) {
    const when = `-n ${sq(`__fish_seen_subcommand_from ${c.name}`)}`;
    for (const f of c.flags) {
      const short = f.short ? ` -s ${f.short.replace(/^-/, '')}` : '';
      const value = !f.takesValue ? '' : f.values ? ` -x -a ${sq(f.values.join(' '))}` : f.file ? ' -r -F' : ' -x';
      lines.push(`complete -c rtc-agent ${when} -l ${f.name.replace(/^--/, '')}${short}${value} -d ${sq(f.description)}`);
    }
    if (c.argumentValues) lines.push(`complete -c rtc-agent ${when} -a ${sq(c.argumentValues.join(' '))}`);
    else if (c.fileArgument) lines.push(`complete -c rtc-agent ${when} -F`);
  }
  return `${lines.join('\n')}\n`;
}

export function makeCompletionCommand(ctx: CliContext, program: Command): Command {
  return new Command('completion')
    .addArgument(new Argument('<shell>', 'bash, zsh or fish').choices(SHELLS))
    .addHelpText(
      'after',
      `
  bash: source <(rtc-agent completion bash)
  zsh:  rtc-agent completion zsh > "\${fpath[1]}/_rtc-agent"
  fish: rtc-agent completion fish > ~/.config/fish/completions/rtc-agent.fish`,
    )
    .action((shell: Shell) => {
      const commands = describeProgram(program);
      const script = shell === 'bash' ? bashScript(commands) : shell === 'zsh' ? zshScript(commands) : fishScript(commands);
      ctx.stdout.write(script);
    });
}
