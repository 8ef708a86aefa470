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
}

export interface GivenOptions {
  options: GivenOption[];
  /** Words that are no option or option's value: a subcommand or a prompt. */
  positionals: string[];
}

/** The user's options in order, read as the agent's own parser would (`--x=v`, `--x v`, `-xv`, `-x v`). */
export function readOptions(words: string[], table: OptionTable): GivenOptions {
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
      attached = word.slice(2);
    }
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
    options.push({ name, values, words: taken });
  }
  return { options, positionals };
}

/** The options given under any of `names`, in order. */
export function given(options: GivenOptions, ...names: string[]): GivenOption[] {
  return options.options.filter((option) => names.includes(option.name));
}

/** Codex 0.169's options that take a value (`codex --help`). */
export const CODEX_OPTIONS: OptionTable = {
  "-c": "value", "--config": "value", "--enable": "value", "--disable": "value", "--remote": "value",
  "--remote-auth-token-env": "value", "-i": "variadic", "--image": "variadic", "-m": "value", "--model": "value",
  "--local-provider": "value", "-p": "value", "--profile": "value", "-s": "value", "--sandbox": "value",
  "-C": "value", "--cd": "value", "--add-dir": "value", "-a": "value", "--ask-for-approval": "value",
};

/** Claude Code 2.1.330's options that take a value (`claude --help`). */
export const CLAUDE_OPTIONS: OptionTable = {
  "--add-dir": "variadic", "--agent": "value", "--agents": "value", "--allowedTools": "variadic",
  "--allowed-tools": "variadic", "--append-system-prompt": "value", "--append-system-prompt-file": "value",
  "--autocompact": "value", "--betas": "variadic", "--cloud": "optional", "-d": "optional", "--debug": "optional",
  "--debug-file": "value", "--disallowedTools": "variadic", "--disallowed-tools": "variadic", "--effort": "value",
  "--environment": "value", "--fallback-model": "value", "--file": "variadic", "--from-pr": "optional",
  "--input-format": "value", "--json-schema": "value", "--max-budget-usd": "value", "--mcp-config": "variadic",
  "--model": "value", "-n": "value", "--name": "value", "--output-format": "value", "--permission-mode": "value",
  "--permission-prompts": "value", "--plugin-dir": "value", "--plugin-url": "value", "--prompt-suggestions": "optional",
  "--remote-control": "optional", "--remote-control-session-name-prefix": "value", "-r": "optional",
  "--resume": "optional", "--session-id": "value", "--setting-sources": "value", "--settings": "value",
  "--system-prompt": "value", "--system-prompt-file": "value", "--system-prompt-snapshot": "value",
  "--teleport": "optional", "--tools": "variadic", "-w": "optional", "--worktree": "optional",
};
