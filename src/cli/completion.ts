// Shell completion scripts for bash, zsh and fish, generated from the command table in spec.ts, so a
// new command or flag is completed as soon as it is declared there.

import { WORKER_MESSAGE_TYPES } from "../store/messages.ts";
import { HOOK_EVENTS } from "./hot.ts";
import { COMMANDS, GLOBAL_OPTIONS, type CommandSpec, type OptionSpec } from "./spec.ts";

export const SHELLS = ["bash", "zsh", "fish"] as const;
export type Shell = (typeof SHELLS)[number];

interface Flag {
  /** "-n" and/or "--dry-run" */
  short: string | undefined;
  long: string;
  takesValue: boolean;
  description: string;
}

type Completer = "workers" | "branches" | "files" | "dirs" | { words: string[] } | undefined;

interface Positional {
  name: string;
  repeated: boolean;
}

interface CommandInfo {
  name: string;
  description: string;
  positionals: Positional[];
  flags: Flag[];
}

/** What the value of a flag or a positional can be; the rest is free text. */
const FLAG_VALUES: Record<string, Completer> = {
  "--type": { words: [...WORKER_MESSAGE_TYPES] },
  "--agent": { words: ["claude", "codex"] },
  "--backend": { words: ["git", "gtr"] },
  "--method": { words: ["squash", "rebase", "merge"] },
  "--on-conflict": { words: ["stop", "return"] },
  "--prompt-file": "files",
  "--project-dir": "dirs",
  "--from": "branches",
  "--after": "workers",
};
const POSITIONAL_VALUES: Record<string, Completer> = {
  worker: "workers",
  workers: "workers",
  branch: "branches",
  shell: { words: [...SHELLS] },
  agent: { words: ["claude"] },
  event: { words: [...HOOK_EVENTS] },
  // orch host's first word
  action: { words: ["add", "list", "rm"] },
};

/** `orch help COMMAND` (main.ts takes it as `orch COMMAND --help`): no command of the table, completed as one. */
function helpCommand(): CommandInfo {
  return {
    name: "help",
    description: "Show the help of a command (orch help COMMAND is orch COMMAND --help)",
    positionals: [{ name: "command", repeated: false }],
    flags: [],
  };
}

function parseFlag(option: OptionSpec): Flag {
  const names = option.flags.split(/[\s,]+/).filter((word) => word.startsWith("-"));
  const long = names.find((name) => name.startsWith("--")) ?? names[0]!;
  const short = names.find((name) => !name.startsWith("--"));
  return { short, long, takesValue: option.flags.includes("<"), description: option.description };
}

/** A flag only the orch that drives a host passes (its description says "Internal"): not offered to a person. */
const isInternal = (option: OptionSpec) => option.description.startsWith("Internal");

function commandInfo(spec: CommandSpec): CommandInfo {
  const [name, ...rest] = spec.usage.split(/\s+/);
  const positionals = rest.map((token) => {
    const inner = token.replace(/^[<[]|[>\]]$/g, "");
    return { name: inner.replace(/^\.\.\./, ""), repeated: inner.startsWith("...") };
  });
  const flags = spec.options.filter((option) => !isInternal(option)).map(parseFlag);
  return { name: name!, description: spec.description, positionals, flags };
}

/** The commands a person types: the table's public ones, then help, whose one word is any of them. */
function publicCommands(): CommandInfo[] {
  const commands = COMMANDS.filter((spec) => !spec.hidden).map(commandInfo);
  return [...commands, helpCommand()];
}

const globalFlags = (): Flag[] => [
  ...GLOBAL_OPTIONS.map(parseFlag),
  { short: "-h", long: "--help", takesValue: false, description: "Show help" },
];

const WORKERS_SED = `sed -n 's/^ *"worker_id": *"\\([^"]*\\)".*/\\1/p'`;
const BRANCHES = "git for-each-ref --format='%(refname:short)' refs/heads 2>/dev/null";

/** help's word is a command: the table's public commands (not help itself, which main.ts refuses there). */
function positionalCompleter(positional: Positional): Completer {
  if (positional.name !== "command") return POSITIONAL_VALUES[positional.name];
  return { words: COMMANDS.filter((c) => !c.hidden).map((c) => commandInfo(c).name) };
}

function firstPositionalCompleter(command: CommandInfo): Completer {
  const first = command.positionals[0];
  return first && positionalCompleter(first);
}

// ---- bash ----

function bashWords(completer: Completer): string | undefined {
  if (completer === undefined) return undefined;
  if (completer === "workers") return 'COMPREPLY=($(compgen -W "$(_orch_workers)" -- "$cur"))';
  if (completer === "branches") return 'COMPREPLY=($(compgen -W "$(_orch_branches)" -- "$cur"))';
  if (completer === "files") return 'COMPREPLY=($(compgen -f -- "$cur"))';
  if (completer === "dirs") return 'COMPREPLY=($(compgen -d -- "$cur"))';
  return `COMPREPLY=($(compgen -W "${completer.words.join(" ")}" -- "$cur"))`;
}

function bashScript(): string {
  const commands = publicCommands();
  const globals = globalFlags();
  const allFlags = [...globals, ...commands.flatMap((c) => c.flags)];
  const valueFlags = [...new Set(allFlags.filter((f) => f.takesValue).map((f) => f.long))];
  const flagNames = (flags: Flag[]) => flags.flatMap((f) => (f.short ? [f.short, f.long] : [f.long])).join(" ");
  const valueCases = valueFlags.map((flag) => {
    const action = bashWords(FLAG_VALUES[flag]);
    return `    ${flag}) ${action ? `${action}; ` : ""}return 0 ;;`;
  });
  const flagCases = commands.map((c) => {
    const words = flagNames([...c.flags, ...globals]);
    return `      ${c.name}) COMPREPLY=($(compgen -W "${words}" -- "$cur")) ;;`;
  });
  const positionalCases = commands.flatMap((c) => {
    const first = c.positionals[0];
    const action = bashWords(firstPositionalCompleter(c));
    if (!first || !action) return [];
    return [`      ${c.name}) ${first.repeated ? "" : '[[ $npos -eq 0 ]] && '}${action} ;;`];
  });
  return `# bash completion for orch, generated by \`orch completion bash\` from its command table.
# Load it with: source <(orch completion bash)
# or save it as ~/.local/share/bash-completion/completions/orch

_orch_workers() { command orch list --json 2>/dev/null | ${WORKERS_SED}; }
_orch_branches() { command ${BRANCHES}; }

_orch() {
  local cur prev cmd="" npos=0 i word
  cur=\${COMP_WORDS[COMP_CWORD]}
  prev=""
  (( COMP_CWORD > 0 )) && prev=\${COMP_WORDS[COMP_CWORD-1]}
  COMPREPLY=()
  # The command is the first word that is neither a flag nor a flag's value.
  for (( i = 1; i < COMP_CWORD; i++ )); do
    word=\${COMP_WORDS[i]}
    case $word in
      ${valueFlags.join("|")}) (( i++ )) ;;
      -*) ;;
      *) if [[ -z $cmd ]]; then cmd=$word; else (( npos++ )); fi ;;
    esac
  done
  case $prev in
${valueCases.join("\n")}
  esac
  if [[ -z $cmd ]]; then
    if [[ $cur == -* ]]; then
      COMPREPLY=($(compgen -W "${flagNames(globals)} --version" -- "$cur"))
    else
      COMPREPLY=($(compgen -W "${commands.map((c) => c.name).join(" ")}" -- "$cur"))
    fi
    return 0
  fi
  if [[ $cur == -* ]]; then
    case $cmd in
${flagCases.join("\n")}
    esac
    return 0
  fi
  case $cmd in
${positionalCases.join("\n")}
  esac
  return 0
}

complete -F _orch orch
`;
}

// ---- zsh ----

/** Text inside a zsh single-quoted word, and inside an _arguments [explanation]. */
function zshText(text: string): string {
  return text.replace(/\\/g, "\\\\").replace(/\[/g, "(").replace(/\]/g, ")").replace(/'/g, `'\\''`);
}

function zshAction(completer: Completer): string {
  if (completer === undefined) return " ";
  if (completer === "workers") return "_orch_workers";
  if (completer === "branches") return "_orch_branches";
  if (completer === "files") return "_files";
  if (completer === "dirs") return "_files -/";
  return `(${completer.words.join(" ")})`;
}

function zshFlag(flag: Flag): string {
  const value = flag.takesValue ? `:${flag.long.slice(2)}:${zshAction(FLAG_VALUES[flag.long])}` : "";
  const explanation = `[${zshText(flag.description)}]${value}`;
  const equals = flag.takesValue ? "=" : "";
  if (flag.short) return `'(${flag.short} ${flag.long})'{${flag.short},${flag.long}}'${equals}${explanation}'`;
  return `'${flag.long}${equals}${explanation}'`;
}

function zshScript(): string {
  const commands = publicCommands();
  const globals = globalFlags();
  const describe = commands.map((c) => `    '${c.name}:${zshText(c.description)}'`);
  const cases = commands.map((c) => {
    const specs = [...c.flags, ...globals].map(zshFlag);
    c.positionals.forEach((p, i) => {
      const action = zshAction(positionalCompleter(p));
      specs.push(p.repeated ? `'*:${p.name}:${action}'` : `'${i + 1}:${p.name}:${action}'`);
    });
    return `        ${c.name})\n          _arguments -s ${specs.join(" \\\n            ")} && ret=0 ;;`;
  });
  return `#compdef orch
# zsh completion for orch, generated by \`orch completion zsh\` from its command table.
# Load it with: source <(orch completion zsh)
# or save it as _orch in a folder of your $fpath (before compinit runs).

_orch_workers() {
  local -a workers
  workers=(\${(f)"$(command orch list --json 2>/dev/null | ${WORKERS_SED})"})
  compadd -a workers
}

_orch_branches() {
  local -a branches
  branches=(\${(f)"$(command ${BRANCHES})"})
  compadd -a branches
}

_orch() {
  local curcontext=$curcontext state line ret=1
  local -a commands
  commands=(
${describe.join("\n")}
  )
  _arguments -C ${globals.map(zshFlag).join(" ")} '(-v --version)'{-v,--version}'[Print the version]' \\
    '1:command:->command' '*::argument:->argument' && ret=0
  case $state in
    command)
      _describe -t commands 'orch command' commands && ret=0 ;;
    argument)
      case $line[1] in
${cases.join("\n")}
      esac ;;
  esac
  return ret
}

if [ "$funcstack[1]" = "_orch" ]; then
  _orch "$@"
else
  compdef _orch orch
fi
`;
}

// ---- fish ----

function fishText(text: string): string {
  return `'${text.replace(/\\/g, "\\\\").replace(/'/g, "\\'")}'`;
}

function fishValue(completer: Completer): string {
  if (completer === undefined) return " -r";
  if (completer === "workers") return " -x -a '(__orch_workers)'";
  if (completer === "branches") return " -x -a '(__orch_branches)'";
  if (completer === "files") return " -r -F";
  if (completer === "dirs") return " -x -a '(__fish_complete_directories)'";
  return ` -x -a ${fishText(completer.words.join(" "))}`;
}

function fishFlag(flag: Flag, condition: string | undefined): string {
  const when = condition ? ` -n ${fishText(condition)}` : "";
  const short = flag.short ? ` -s ${flag.short.slice(1)}` : "";
  const value = flag.takesValue ? fishValue(FLAG_VALUES[flag.long]) : "";
  return `complete -c orch${when}${short} -l ${flag.long.slice(2)}${value} -d ${fishText(flag.description)}`;
}

function fishScript(): string {
  const commands = publicCommands();
  const lines = [
    "# fish completion for orch, generated by `orch completion fish` from its command table.",
    "# Save it as ~/.config/fish/completions/orch.fish",
    "",
    "function __orch_workers",
    `    command orch list --json 2>/dev/null | string match -r -g '"worker_id": *"([^"]*)"'`,
    "end",
    "function __orch_branches",
    `    command ${BRANCHES}`,
    "end",
    "",
    "complete -c orch -f",
    ...globalFlags().map((flag) => fishFlag(flag, undefined)),
    `complete -c orch -n '__fish_use_subcommand' -s v -l version -d 'Print the version'`,
  ];
  for (const c of commands) {
    const seen = `__fish_seen_subcommand_from ${c.name}`;
    lines.push("", `complete -c orch -n '__fish_use_subcommand' -a ${c.name} -d ${fishText(c.description)}`);
    for (const flag of c.flags) lines.push(fishFlag(flag, seen));
    const positional = firstPositionalCompleter(c);
    if (positional !== undefined && positional !== "files" && positional !== "dirs") {
      lines.push(`complete -c orch -n ${fishText(seen)}${fishValue(positional).replace(" -x", "")}`);
    }
  }
  return `${lines.join("\n")}\n`;
}

export function completionScript(shell: Shell): string {
  if (shell === "bash") return bashScript();
  if (shell === "zsh") return zshScript();
  return fishScript();
}
