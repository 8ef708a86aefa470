#!/usr/bin/env node
// The command line: the table in cli/spec.ts wired to cac; each command module loads when it runs,
// and hot commands (cli/hot.ts) with plain arguments skip loading cac and the rest of the table.

import process from "node:process";
import { undecodableArgument } from "./argv.ts";
import { camel, fastParse } from "./cli/fastparse.ts";
import { GLOBAL_OPTIONS, HOT_COMMANDS, type CommandSpec } from "./cli/hot.ts";
import type { CommandResult } from "./commands/types.ts";
import { OrchError, errnoCode, exitCodeFor, fileErrorLine, shortenQuoted, type ErrorKind } from "./errors.ts";
import { endAll } from "./exit-hold.ts";
import { booleanFlag, stringFlag } from "./flags.ts";
import { checkOrchestratorId } from "./ids.ts";
import { NO_COLORS, colorsFor, forTerminal, warn, writeErr, writeOut, writeOutPatiently } from "./output.ts";
import { noteParent } from "./parent.ts";
import { controlsShown } from "./text.ts";
import { BUILD, VERSION } from "./version.ts";

noteParent();
const argv = process.argv.slice(2);
const commandName = (spec: CommandSpec) => spec.usage.split(" ")[0]!;

/** --json as a flag, not as the text of a flag that takes a value or an argument after "--". */
function jsonFlagGiven(args: string[], valueTaking: Set<string>): boolean {
  for (let i = 0; i < args.length; i++) {
    if (args[i] === "--") return false;
    if (args[i] === "--json") return true;
    if (valueTaking.has(args[i]!)) i++;
  }
  return false;
}
// Whether to answer in JSON: what the parsed flags say once the command is parsed. Before that (an error
// in parsing, --version) it is worked out when first asked, from the value-taking flags of the commands at hand.
let jsonAnswer: boolean | undefined;
function jsonMode(): boolean {
  jsonAnswer ??= jsonFlagGiven(argv, valueTakingNames([...GLOBAL_OPTIONS, ...HOT_COMMANDS.flatMap((c) => c.options)]));
  return jsonAnswer;
}

// Set once the command is known: a JSON Lines command (watch) keeps its failure's document on one line,
// so that every line of its output is a JSON document for a reader that takes lines as they come.
let answerInLines = false;

function fail(kind: ErrorKind, given: string, details: Record<string, unknown> = {}): never {
  // A long value echoed back (a prompt given to the wrong flag) is cut to its start and its length, as for MCP.
  const message = shortenQuoted(given);
  warn(message.split("\n")[0]!);
  try {
    const document = { success: false, error: { code: kind, message }, ...details };
    if (jsonMode()) writeOut(`${answerInLines ? JSON.stringify(document) : JSON.stringify(document, null, 2)}\n`);
  } catch {
    // stdout is what failed: the line on stderr has said it.
  }
  process.exit(exitCodeFor(kind, details.signal));
}

/** A system error a user can cause (a read-only or full disk, a missing folder): one line, no stack. */
function systemErrorLine(error: unknown): string | undefined {
  const code = errnoCode(error);
  if (code === undefined || !(error instanceof Error)) return undefined;
  const fileLine = fileErrorLine(error);
  if (fileLine !== undefined) return `${fileLine}${limitReached(error, code)}`;
  const unnamedPath = "path" in error && typeof error.path === "string" && !error.message.includes(error.path);
  const where = unnamedPath ? ` (${String(error.path)})` : "";
  return `${error.message.split("\n")[0]}${where}${limitReached(error, code)}`;
}

/**
 * Which of the session's limits an error hit, with its value, for the user to raise: too many open files
 * (EMFILE), or a program that could not start for the process limit (EAGAIN from spawn or fork). Read only
 * on a failure; the value may be unreadable for the very lack of a file descriptor.
 */
function limitReached(error: Error, code: string): string {
  const limit = code === "EMFILE" ? { name: "Max open files", what: "open files", flag: "-n" }
    : code === "EAGAIN" && /spawn|fork/.test(error.message) ? { name: "Max processes", what: "processes", flag: "-u" }
    : undefined;
  if (limit === undefined) return "";
  let value: string | undefined;
  try {
    const limits = process.getBuiltinModule("node:fs").readFileSync("/proc/self/limits", "utf8");
    const line = limits.split("\n").find((candidate) => candidate.startsWith(limit.name));
    value = line?.slice(limit.name.length).trim().split(/\s+/)[0];
  } catch {
    // no /proc (macOS), or no descriptor left to read it with
  }
  const is = value === undefined ? "" : ` is ${value}`;
  return `: the limit of ${limit.what} was reached (ulimit ${limit.flag}${is})`;
}

/** The option names (long and short) that take a value: "--prompt <text>", "-t, --type <type>". */
function valueTakingNames(options: { flags: string }[]): Set<string> {
  const names = new Set<string>();
  for (const option of options) {
    if (!/[<[]/.test(option.flags)) continue;
    for (const word of option.flags.split(/[\s,]+/)) if (word.startsWith("-")) names.add(word);
  }
  return names;
}

/** The long names of the options that take no value: "--sync", "--no-window". */
function switchNames(options: { flags: string }[]): Set<string> {
  const names = new Set<string>();
  for (const option of options) {
    if (/[<[]/.test(option.flags)) continue;
    for (const word of option.flags.split(/[\s,]+/)) if (word.startsWith("--")) names.add(word);
  }
  return names;
}

// mri (inside cac) turns "007" into 7 and reads "-5 tests" as flags; a marker on every value keeps
// the text exactly as typed and makes it a value. Contract: a flag that takes a value takes the next
// argument whatever it looks like, "--" ends the flags, and text with a space is never a flag.
const MARK = "\u0001";
const BEFORE_COMMAND = new Set(["--json", "--orch", "-h", "--help", "-v", "--version"]);
function protect(args: string[], commands: CommandSpec[]): string[] {
  let command: CommandSpec | undefined;
  const out: string[] = [];
  for (let i = 0; i < args.length; i++) {
    const a = args[i]!;
    if (a === "--") {
      out.push(...args.slice(i + 1).map((rest) => MARK + rest));
      break;
    }
    if (a.startsWith("--") && a.includes("=")) {
      // mri would take the value of a switch ("--sync=x") as an argument: land or await would act on x.
      const name = a.slice(0, a.indexOf("="));
      if (switchNames([...GLOBAL_OPTIONS, ...(command?.options ?? [])]).has(name)) {
        const help = command ? `orch ${commandName(command)} --help` : "orch --help";
        throw new OrchError("usage", `${name} takes no value (see ${help})`);
      }
      out.push(a.replace(/^(--[^=]+=)/, `$1${MARK}`));
      continue;
    }
    if (a.startsWith("-") && a !== "-" && !/\s/.test(a)) {
      // Before the command only orch's own flags are known; mri would take an unknown one's next word (the
      // command) as its value, and `orch --bogus status` said "no command given".
      if (!command && !BEFORE_COMMAND.has(a)) throw new OrchError("usage", `unknown option \`${a}\` (see orch --help)`);
      out.push(cacSwitch(a, [...GLOBAL_OPTIONS, ...(command?.options ?? [])]));
      const takesValue = valueTakingNames([...GLOBAL_OPTIONS, ...(command?.options ?? [])]);
      if (takesValue.has(a) && i + 1 < args.length) out.push(MARK + args[++i]!);
      continue;
    }
    if (!command) {
      command = commands.find((c) => commandName(c) === a);
      if (command) {
        out.push(a);
        continue;
      }
    }
    out.push(MARK + a);
  }
  return out;
}

/**
 * A switch of two words (--dry-run, --delete-branch) in the camelCase name cac gives it (--dryRun). cac tells
 * mri only that name is a switch, so mri took "--dry-run" as a flag with a value and ate the next argument:
 * `orch apply --dry-run W` said "missing <worker>". --no-x stays: mri reads it as x=false itself.
 */
function cacSwitch(arg: string, options: { flags: string }[]): string {
  if (arg.startsWith("--no-") || !/^--\w+-/.test(arg) || !switchNames(options).has(arg)) return arg;
  return `--${camel(arg.slice(2))}`;
}

function unprotect<T>(value: T): T {
  if (typeof value === "string") return (value.startsWith(MARK) ? value.slice(1) : value) as T;
  if (Array.isArray(value)) return value.map(unprotect) as T;
  if (value && typeof value === "object") {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, unprotect(v)])) as T;
  }
  return value;
}

/**
 * Writes output that hands nothing out (help, the version). A reader that has gone (`orch help | head -0`)
 * ends orch at once with exit 1 and nothing said: nothing was lost, and git says nothing either.
 */
function writeOrLeave(text: string): void {
  try {
    writeOut(text);
  } catch (error) {
    if (errnoCode(error) === "EPIPE") process.exit(1);
    throw error;
  }
}

/** `orch help` and `orch help COMMAND`, as git and gh take them: the same as `--help`. */
function helpAsFlag(args: string[], commands: CommandSpec[]): string[] {
  if (args[0] !== "help") return args;
  // help is no command of the table: its own -h or --help asks for the help it gives anyway.
  const words = args.slice(1).filter((a) => a !== "--json" && a !== "-h" && a !== "--help");
  const [topic, ...rest] = words;
  if (topic === undefined) return ["--help"];
  if (rest.length > 0 || !commands.some((c) => !c.hidden && commandName(c) === topic)) {
    const asked = JSON.stringify(words.join(" "));
    throw new OrchError("usage", `no help for ${asked}: orch help takes one command (see orch --help)`);
  }
  return [topic, "--help"];
}

interface Invocation {
  spec: CommandSpec;
  args: string[];
  flags: Record<string, unknown>;
}

/** Full parsing with cac: help, versions, errors for unknown or malformed flags. */
async function parseWithCac(): Promise<Invocation | undefined> {
  const [{ cac }, { COMMANDS }] = await Promise.all([import("cac"), import("./cli/spec.ts")]);
  const cli = cac("orch");
  for (const option of GLOBAL_OPTIONS) cli.option(option.flags, option.description);
  cli.option("-v, --version", "Print the version");
  let invocation: Invocation | undefined;
  for (const spec of COMMANDS.filter((s) => !s.hidden)) {
    const command = cli.command(spec.usage, spec.description);
    for (const option of spec.options) {
      command.option(option.flags, option.description);
      // cac gives a --no-x switch the default true and prints "(default: true)" beside it, which reads as if
      // --no-x were on by default; the commands take an absent switch as "x on" anyway (flags.x !== false).
      const added = command.options[command.options.length - 1];
      if (added?.negated) added.config.default = undefined;
    }
    command.action((...params: unknown[]) => {
      const flags = params.pop() as Record<string, unknown>;
      invocation = { spec, args: params.flat().filter((a) => a !== undefined).map(String), flags };
    });
  }
  cli.help();
  // The help cac prints (console.info) is kept and written here: console.info would swallow a closed pipe's
  // EPIPE (orch help | head -0 would exit 0), and with --json it is the text of one JSON document instead.
  let helpText = "";
  console.info = (text: string) => (helpText = text);
  const writeHelp = () =>
    writeOrLeave(jsonMode() ? `${JSON.stringify({ success: true, help: helpText }, null, 2)}\n` : `${helpText}\n`);
  try {
    const parsed = cli.parse(["", "", ...protect(helpAsFlag(argv, COMMANDS), COMMANDS)], { run: false });
    if (parsed.options.help) {
      writeHelp();
      process.exit(0);
    }
    if (parsed.options.version) {
      const versionJson = { success: true, version: VERSION, ...(BUILD ? { build: BUILD } : {}) };
      writeOrLeave(jsonMode() ? `${JSON.stringify(versionJson, null, 2)}\n` : `orch ${VERSION}\n`);
      process.exit(0);
    }
    if (!cli.matchedCommand) {
      const first = unprotect(parsed.args[0]);
      if (first === undefined) {
        if (jsonMode()) throw new OrchError("usage", "no command given (see orch --help)");
        cli.outputHelp();
        writeHelp();
        process.exit(2);
      }
      throw new OrchError("usage", `unknown command ${JSON.stringify(first)} (see orch --help)`);
    }
    cli.runMatchedCommand();
  } catch (error) {
    if (error instanceof OrchError) throw error;
    answerInLines = COMMANDS.find((spec) => commandName(spec) === cli.matchedCommandName)?.jsonLines === true;
    const name = cli.matchedCommandName ? ` ${cli.matchedCommandName}` : "";
    // cac quotes the arguments it could not place ("Unused args: `x`") with protect()'s marker on them.
    const message = inOrchWords((error as Error).message.replaceAll(MARK, ""), cli.args.length);
    throw new OrchError("usage", `${message} (see orch${name} --help)`);
  }
  return invocation && { ...invocation, args: unprotect(invocation.args), flags: unprotect(invocation.flags) };
}

/** cac's four usage errors in orch's words (lower case, as git's and every other orch message); others as they are. */
function inOrchWords(message: string, given: number): string {
  // An argument may hold a newline: the whole of it is named, on one line.
  const unused = /^Unused args: (.*)$/s.exec(message);
  if (unused) return `unexpected argument${unused[1]!.includes("`, `") ? "s" : ""} ${controlsShown(unused[1]!)}`;
  const unknown = /^Unknown option `(.*)`$/.exec(message);
  if (unknown) return `unknown option \`${asTyped(unknown[1]!)}\``;
  const missing = /^missing required args for command `\S+ (.*)`$/.exec(message);
  if (missing) {
    const needed = missing[1]!.split(" ").filter((part) => part.startsWith("<")).slice(given);
    return `missing ${needed.join(" ")}`;
  }
  const noValue = /^option `(\S+) (\S+)` value is missing$/.exec(message);
  if (noValue) return `option \`${noValue[1]} ${noValue[2]}\` needs a value`;
  return message;
}

/** An option as the user typed it: cac names an unknown --dry-run "--dryRun", its camelCase key. */
function asTyped(option: string): string {
  return argv.find((arg) => arg.startsWith("--") && `--${camel(arg.split("=")[0]!.slice(2))}` === option) ?? option;
}

function parseFast(): Invocation | undefined {
  const spec = HOT_COMMANDS.find((s) => commandName(s) === argv[0]);
  const parsed = spec && fastParse(spec, GLOBAL_OPTIONS, argv.slice(1));
  return parsed && spec && { spec, ...parsed };
}

async function emit(result: CommandResult): Promise<never> {
  // A streamed result (watch's JSON lines) has written its output as it went.
  if (!result.streamed) {
    const colors = jsonMode() ? NO_COLORS : await colorsFor(1, process.env);
    const human = () => {
      const text = result.human(colors);
      return result.verbatim || typeof text !== "string" ? text : forTerminal(text, colors !== NO_COLORS);
    };
    const text = jsonMode() ? `${JSON.stringify(result.json, null, 2)}\n` : human();
    try {
      // Messages handed out (poll, inbox) wait for room in a full pipe without blocking the process: a hangup ends it.
      if (result.afterOutput) await writeOutPatiently(text);
      else writeOut(text);
    } catch (error) {
      const why = errnoCode(error) ?? (error as Error).message;
      if (why === "EPIPE" && !result.afterOutput) {
        // The reader has gone (orch status | head -0): nothing was lost, so nothing to say, as git says nothing.
        await endAll();
        process.exit(1);
      }
      // Nothing is marked read then (afterOutput does not run): the messages stay for the next reader.
      const unread = result.afterOutput ? "; nothing was marked read" : "";
      throw new OrchError("failed", `cannot write to standard output: ${why}${unread}`);
    }
  }
  result.afterOutput?.();
  await endAll();
  process.exit(result.exitCode ?? 0);
}

/** orch keeps text as UTF-8 JSON: an argument that is not UTF-8 would be stored changed, so it is refused. */
function refuseUndecodableArguments(): void {
  const index = undecodableArgument(argv);
  if (index === undefined) return;
  const shown = JSON.stringify(argv[index]);
  throw new OrchError("invalid", `argument ${index + 1} (${shown}) is not valid UTF-8: orch takes text in UTF-8 only`);
}

/**
 * The orchestrator's commands that take its messages (poll, watch) or act on workers and the base checkout. A
 * worker's agent has its ORCH_WORKER (spawn gives it, and its shell tool passes it on): one that ran `orch poll` to
 * read its own messages took the orchestrator's, handed out once, and one could approve a sibling's permission
 * request or land, stop and remove workers. Its own messages come with `orch inbox`. An explicit --orch still
 * runs them (a person who means it, in the worker's window after its agent ended).
 */
const ORCHESTRATOR_ONLY = new Set([
  "poll", "watch", "spawn", "send", "reply", "stop", "rm", "clean", "resume", "approve", "deny", "land", "merge",
  "apply", "sync",
]);

function refuseWorkersOrchestratorCommand(): void {
  const worker = process.env.ORCH_WORKER;
  const command = argv[0];
  if (!worker || command === undefined || !ORCHESTRATOR_ONLY.has(command)) return;
  // Read before the arguments are parsed, so that a refused poll claims nothing from hosts (poll-early.ts); an
  // "--orch" after "--" is text.
  const end = argv.indexOf("--");
  const flags = end === -1 ? argv : argv.slice(0, end);
  if (flags.some((arg) => arg === "--orch" || arg.startsWith("--orch="))) return;
  throw new OrchError("refused", `orch ${command} is the orchestrator's, and this is worker ${worker}'s environment ` +
    "($ORCH_WORKER): your own messages come with orch inbox, and you report with orch notify (a person who means " +
    "it gives --orch ID)");
}

async function mainEntry(): Promise<void> {
  try {
    refuseUndecodableArguments();
    refuseWorkersOrchestratorCommand();
    // A remote poll's claims go before the rest loads (poll-early.ts).
    if (argv[0] === "poll") await (await import("./commands/poll-early.ts")).claimHostsEarly(argv.slice(1));
    const invocation = parseFast() ?? (await parseWithCac());
    if (!invocation) return;
    jsonAnswer = booleanFlag(invocation.flags, "json");
    answerInLines = invocation.spec.jsonLines === true;
    // Refused before any command runs: init and install, which never read a session, would write first.
    const orchFlag = stringFlag(invocation.flags, "orch");
    if (orchFlag !== undefined) checkOrchestratorId(orchFlag, "--orch id");
    const command = await invocation.spec.load();
    const ctx = { cwd: process.cwd(), env: process.env, warn };
    const result = await command(invocation.args, invocation.flags, ctx);
    await emit(result);
  } catch (error) {
    await endAll();
    if (error instanceof OrchError) fail(error.kind, error.message, error.details);
    const line = systemErrorLine(error);
    if (line !== undefined) fail("failed", line);
    writeErr(`${(error as Error).stack ?? String(error)}\n`);
    fail("failed", `internal error: ${(error as Error).message}`);
  }
}

await mainEntry();
