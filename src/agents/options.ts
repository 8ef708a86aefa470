// The user's own options for claude or codex in --agent ("codex -s read-only", "claude --settings x.json"),
// read once here the way each program reads them, so every check of them (sandbox, settings, print mode,
// session ids, subcommands) asks the same answer.

/** How an option takes a value: none, one (the next word or `=value`), one if the next word is no option, or many. */
export type Arity = "flag" | "value" | "optional" | "variadic";

/** An agent's options that take values, by every spelling (`-s`, `--sandbox`); any other option is a flag. */
export type OptionTable = Record<string, Arity>;

export interface GivenOption {
  /** The spelling used (`-s`, `--sandbox`). */
  name: string;
  /** Its values: none for a flag, one for `value`, any number for `variadic`. */
  values: string[];
  /** The words it took, as given. */
  words: string[];
  /** Where its first word is in the words read. */
  at: number;
}

export interface GivenOptions {
  options: GivenOption[];
  /** Words that are no option or option's value: a subcommand or a prompt. */
  positionals: string[];
}

/**
 * The agent's command-line parser: Codex's (Rust's clap) takes `-s=v` as `v`, Claude Code's (commander) as `=v`.
 */
export type Parser = "clap" | "commander";

/** The user's options in order, read as the agent's own parser would (`--x=v`, `--x v`, `-xv`, `-x v`). */
export function readOptions(words: string[], table: OptionTable, parser: Parser): GivenOptions {
  const options: GivenOption[] = [];
  const positionals: string[] = [];
  for (let i = 0; i < words.length; i++) {
    const word = words[i]!;
    if (word === "--") {
      positionals.push(...words.slice(i + 1));
      break;
    }
    if (!word.startsWith("-") || word === "-") {
      positionals.push(word);
      continue;
    }
    const eq = word.startsWith("--") ? word.indexOf("=") : -1;
    let name = eq > 0 ? word.slice(0, eq) : word;
    let attached = eq > 0 ? word.slice(eq + 1) : undefined;
    if (!word.startsWith("--") && word.length > 2 && table[word.slice(0, 2)] !== undefined) {
      name = word.slice(0, 2);
      attached = parser === "clap" && word[2] === "=" ? word.slice(3) : word.slice(2);
    }
    const at = i;
    const arity = table[name] ?? "flag";
    const taken = [word];
    const values: string[] = attached === undefined ? [] : [attached];
    const next = () => words[i + 1];
    if (attached === undefined && arity === "value" && next() !== undefined) {
      values.push(next()!);
      taken.push(words[++i]!);
    } else if (attached === undefined && arity !== "flag") {
      while (next() !== undefined && !next()!.startsWith("-")) {
        values.push(next()!);
        taken.push(words[++i]!);
        if (arity === "optional") break;
      }
    }
    options.push({ name, values, words: taken, at });
  }
  return { options, positionals };
}

/** The options given under any of `names`, in order. */
export function given(options: GivenOptions, ...names: string[]): GivenOption[] {
  return options.options.filter((option) => names.includes(option.name));
}

/**
 * The subcommand a user's options name, if their first word that is no option (nor an option's value) is one
 * of `subcommands`: it runs instead of the interactive session. Any other such word is passed on as given: it
 * is likely the value of an option newer than these tables, which the agent reads as it should.
 */
export function subcommandOf(options: GivenOptions, subcommands: ReadonlySet<string>): string | undefined {
  const first = options.positionals[0];
  return first !== undefined && subcommands.has(first) ? first : undefined;
}

/** Codex 0.169's subcommands and their aliases (`codex --help`). */
export const CODEX_SUBCOMMANDS: ReadonlySet<string> = new Set([
  "agents", "exec", "e", "review", "login", "logout", "mcp", "plugin", "app-server", "remote-control", "completion",
  "update", "doctor", "sandbox", "debug", "apply", "a", "resume", "queue", "archive", "delete", "migrate-rollouts",
  "migrate-nfs-db", "unarchive", "fork", "cloud", "exec-server", "features", "help",
]);

/** Claude Code 2.1.330's subcommands (`claude --help`; 2.1.331 lists the same). */
export const CLAUDE_SUBCOMMANDS: ReadonlySet<string> = new Set([
  "agents", "attach", "auth", "auto-mode", "doctor", "gateway", "import", "install", "logs", "mcp", "plugin",
  "plugins", "purge", "respawn", "rm", "setup-token", "stop", "kill", "ultrareview", "update", "upgrade", "help",
]);

/** Codex 0.169's options that take a value (`codex --help`). */
export const CODEX_OPTIONS: OptionTable = {
  "-c": "value", "--config": "value", "--enable": "value", "--disable": "value", "--remote": "value",
  "--remote-auth-token-env": "value", "-i": "variadic", "--image": "variadic", "-m": "value", "--model": "value",
  "--local-provider": "value", "-p": "value", "--profile": "value", "-s": "value", "--sandbox": "value",
  "-C": "value", "--cd": "value", "--add-dir": "value", "-a": "value", "--ask-for-approval": "value",
};

/**
 * Claude Code 2.1.330's options that take a value: those `claude --help` lists and its hidden ones (found in the
 * program's option declarations: --teammate-mode, --channels, --max-thinking-tokens, …), so that a value given
 * to one is never read as a prompt and the option line refused. 2.1.331 declares the same ones.
 */
export const CLAUDE_OPTIONS: OptionTable = {
  "--accept-command": "value", "--add-dir": "variadic", "--advisor": "value", "--agent": "value",
  "--agent-color": "value", "--agent-id": "value", "--agent-name": "value", "--agent-type": "value",
  "--agents": "value", "--allowed-tools": "variadic", "--allowedTools": "variadic",
  "--append-subagent-system-prompt": "value", "--append-subagent-system-prompt-file": "value",
  "--append-system-prompt": "value", "--append-system-prompt-file": "value", "--attach-serve": "value",
  "--autocompact": "value", "--betas": "variadic", "--channels": "variadic", "--client-data-url": "value",
  "--cloud": "optional", "--correlation-id": "value", "-d": "optional",
  "--dangerously-load-development-channels": "variadic", "--debug": "optional", "--debug-file": "value",
  "--deep-link-cwd-b64": "value", "--deep-link-last-fetch": "value", "--deep-link-repo": "value",
  "--disallowed-tools": "variadic", "--disallowedTools": "variadic", "--effort": "value", "--environment": "value",
  "--event": "value", "--fallback-model": "value", "--fast-mode": "value", "--file": "variadic",
  "--forward-home-settings": "value", "--from-pr": "optional", "--inherit-permission-mode": "value",
  "--initialize-fields": "value", "--input-format": "value", "--json-schema": "value", "--lead-verify-key": "value",
  "--list": "value", "--managed-settings": "value", "--max-budget-usd": "value", "--max-cost": "value",
  "--max-thinking-tokens": "value", "--max-turns": "value", "--mcp-config": "variadic",
  "--messaging-socket-path": "value", "--metadata": "value", "--model": "value", "-n": "value", "--name": "value",
  "--on-branch": "value", "--output": "value", "--output-format": "value", "--parent-session-id": "value",
  "--permission-mode": "value", "--permission-prompt-tool": "value", "--permission-prompts": "value",
  "--plan-mode-instructions": "value", "--plugin-dir": "value", "--plugin-dir-no-mcp": "value",
  "--plugin-url": "value", "--pool": "value", "--prefill": "value", "--prefill-b64": "value",
  "--proactivity": "value", "--profile": "value", "--project-config-root": "value",
  "--prompt-suggestions": "optional", "-r": "optional", "--rc": "optional", "--ref": "value", "--remote": "optional",
  "--remote-control": "optional", "--remote-control-session-name-prefix": "value", "--result-format": "value",
  "--resume": "optional", "--resume-drops-turn": "value", "--resume-session-at": "value", "--review-md": "value",
  "--rewind-files": "value", "--runner-declares": "value", "--sdk-url": "value", "--session-began-as-copy": "value",
  "--session-id": "value", "--setting-sources": "value", "--settings": "value", "--system-prompt": "value",
  "--system-prompt-file": "value", "--system-prompt-snapshot": "value", "--task-budget": "value",
  "--team-name": "value", "--teammate-mode": "value", "--teleport": "optional", "--thinking": "value",
  "--thinking-display": "value", "--tools": "variadic", "--transport": "value", "-w": "optional",
  "--watch-artifact": "value", "--watch-artifact-no-autoreact": "value", "--workload": "value",
  "--worktree": "optional",
};
