// A command on a host through ssh's shared connection without starting ssh: the ControlMaster's socket
// in proxy mode (OpenSSH's PROTOCOL.mux, "Requesting proxy mode"), where the socket carries the SSH
// connection protocol itself (one session channel: exec, its output, its exit status) and no file
// descriptor is passed. Starting ssh costs about as much as the round trip it makes; this costs a
// socket. Anything short of a channel that runs the command is "no master here", and the caller runs
// ssh instead, which also starts the master.

import os from "node:os";
import { endBeforeExit } from "../exit-hold.ts";
import { signalsGuarded } from "../signal-guard.ts";

const MUX_MSG_HELLO = 0x00000001;
const MUX_C_PROXY = 0x1000000f;
const MUX_S_PROXY = 0x8000000f;
const MUX_VERSION = 4;

const CHANNEL_OPEN = 90;
const CHANNEL_OPEN_CONFIRMATION = 91;
const CHANNEL_OPEN_FAILURE = 92;
const CHANNEL_WINDOW_ADJUST = 93;
const CHANNEL_DATA = 94;
const CHANNEL_EXTENDED_DATA = 95;
const CHANNEL_EOF = 96;
const CHANNEL_CLOSE = 97;
const CHANNEL_REQUEST = 98;
const CHANNEL_SUCCESS = 99;
const CHANNEL_FAILURE = 100;

/** ssh's own defaults for a session channel: 32 KiB packets, a window of 64 of them. */
const PACKET_SIZE = 32 * 1024;
const WINDOW_SIZE = 64 * PACKET_SIZE;

/**
 * How long a master may take to open the channel (ssh's ConnectTimeout, as orch sets it): past that, a
 * master that is stuck is left to ssh.
 */
const START_TIMEOUT_MS = 5000;

/**
 * How long a closed session waits for the host's own CLOSE before it leaves anyway (a command that goes
 * on after its input closed keeps its channel open until it ends).
 */
const CLOSE_TIMEOUT_MS = 2000;

/** What ssh exits with when the connection failed or broke; a command killed by a signal gives 128 + it. */
const CONNECTION_FAILED = 255;

/** A command running on a host over the shared connection. */
export interface MuxSession {
  onStdout(listener: (text: string) => void): void;
  onStderr(listener: (text: string) => void): void;
  /** Sends bytes to the command's standard input (as the host's window allows). */
  write(data: string | Uint8Array): void;
  /** Closes its standard input once what was written has gone. */
  end(): void;
  /**
   * Ends the session: its input closes and the channel with it (the command sees end of input). `exit`
   * settles once the host has closed the channel too (or CLOSE_TIMEOUT_MS later): wait for it before the
   * process ends.
   */
  close(): void;
  /** Its exit code: 128 + a signal that killed it, CONNECTION_FAILED when the connection went first. */
  readonly exit: Promise<number>;
}

interface Transport {
  write(bytes: Uint8Array): void;
  destroy(): void;
}

interface TransportEvents {
  data(bytes: Uint8Array): void;
  closed(): void;
}

type BunSocket = { write(data: Uint8Array): number; end(): void; terminate?(): void };
type BunConnect = (options: {
  unix: string;
  socket: {
    open?(socket: BunSocket): void;
    data(socket: BunSocket, data: Uint8Array): void;
    drain?(socket: BunSocket): void;
    close?(socket: BunSocket): void;
    error?(socket: BunSocket, error: Error): void;
  };
}) => Promise<BunSocket>;

/** Bun's own socket where there is one: node:net costs ~10 ms to load in a compiled binary, this nothing. */
async function connectWithBun(connect: BunConnect, socketPath: string, events: TransportEvents): Promise<Transport> {
  let pending: Uint8Array[] = [];
  let socket: BunSocket | undefined;
  const flush = () => {
    while (socket && pending.length > 0) {
      const chunk = pending[0]!;
      const written = socket.write(chunk);
      if (written < 0) return;
      if (written < chunk.length) {
        pending[0] = chunk.subarray(written);
        return;
      }
      pending.shift();
    }
  };
  socket = await connect({
    unix: socketPath,
    socket: {
      data: (_socket, data) => events.data(data),
      drain: () => flush(),
      close: () => events.closed(),
      error: () => events.closed(),
    },
  });
  return {
    write(bytes) {
      pending.push(bytes);
      if (pending.length === 1) flush();
    },
    destroy() {
      pending = [];
      if (socket?.terminate) socket.terminate();
      else socket?.end();
    },
  };
}

async function connectWithNode(socketPath: string, events: TransportEvents): Promise<Transport> {
  const net = await import("node:net");
  const socket = net.createConnection(socketPath);
  await new Promise<void>((resolve, reject) => {
    socket.once("connect", () => resolve());
    socket.once("error", reject);
  });
  socket.on("data", (data: Buffer) => events.data(data));
  socket.on("error", () => undefined);
  socket.on("close", () => events.closed());
  return { write: (bytes) => void socket.write(bytes), destroy: () => socket.destroy() };
}

function connectUnix(socketPath: string, events: TransportEvents): Promise<Transport> {
  const bun = (globalThis as { Bun?: { connect?: BunConnect } }).Bun;
  return bun?.connect ? connectWithBun(bun.connect, socketPath, events) : connectWithNode(socketPath, events);
}

const encoder = new TextEncoder();

function u32(value: number): Uint8Array {
  const bytes = new Uint8Array(4);
  new DataView(bytes.buffer).setUint32(0, value >>> 0);
  return bytes;
}

function concat(parts: readonly Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, part) => n + part.length, 0));
  let at = 0;
  for (const part of parts) {
    out.set(part, at);
    at += part.length;
  }
  return out;
}

function sshString(value: string | Uint8Array): Uint8Array {
  const bytes = typeof value === "string" ? encoder.encode(value) : value;
  return concat([u32(bytes.length), bytes]);
}

/** One message of the mux protocol, or (in proxy mode) one SSH packet: a length, then the body. */
function framed(body: Uint8Array): Uint8Array {
  return concat([u32(body.length), body]);
}

/** An SSH packet as proxy mode carries it: unencrypted, a padding length of 0, the type, the fields. */
function packet(type: number, ...fields: Uint8Array[]): Uint8Array {
  return framed(concat([Uint8Array.of(0, type), ...fields]));
}

/** Reads the fields of one received message in order. */
class Reader {
  private at = 0;
  private readonly view: DataView;
  constructor(private readonly message: Uint8Array) {
    this.view = new DataView(message.buffer, message.byteOffset, message.byteLength);
  }
  u32(): number {
    const value = this.view.getUint32(this.at);
    this.at += 4;
    return value;
  }
  byte(): number {
    return this.view.getUint8(this.at++);
  }
  bytes(): Uint8Array {
    const length = this.u32();
    if (this.at + length > this.message.length) throw new RangeError("field longer than its message");
    const value = this.message.subarray(this.at, this.at + length);
    this.at += length;
    return value;
  }
  text(): string {
    return new TextDecoder().decode(this.bytes());
  }
}

/** Splits the byte stream into length-prefixed messages. */
class Framer {
  private buffered: Uint8Array = new Uint8Array(0);
  push(bytes: Uint8Array): Uint8Array[] {
    this.buffered = this.buffered.length === 0 ? bytes : concat([this.buffered, bytes]);
    const messages: Uint8Array[] = [];
    while (this.buffered.length >= 4) {
      const length = new DataView(this.buffered.buffer, this.buffered.byteOffset, 4).getUint32(0);
      if (this.buffered.length < 4 + length) break;
      messages.push(this.buffered.slice(4, 4 + length));
      this.buffered = this.buffered.subarray(4 + length);
    }
    return messages;
  }
}

type Stage = "hello" | "proxy" | "open" | "running" | "closing" | "closed";

/**
 * The channels of this process that the master still holds. A process that dies with one of them (Ctrl-C,
 * SIGTERM from a timeout or a tool runner) leaves the master mid-channel: OpenSSH's master (9.2) then
 * exits ("chan_send_close2: no remote_id", a channel whose opening it had passed on) or, now and then,
 * crashes — and every other session on the shared connection breaks with it. So while there are any,
 * SIGINT, SIGTERM and SIGHUP first close them as a finished command does, then end the process as the
 * signal would have (128 + its number).
 */
const liveChannels = new Set<MuxChannel>();
const ENDING_SIGNALS = ["SIGINT", "SIGTERM", "SIGHUP"] as const;

/** Ends every live channel as a finished command would; settles once the master has let go of them. */
export function endLiveSessions(): Promise<void> {
  return Promise.all([...liveChannels].map((channel) => channel.abandon())).then(() => undefined);
}
// So too when the command is over: a channel may still be closing (a poll's empty answer counts at once).
endBeforeExit(endLiveSessions);

function onEndingSignal(signal: NodeJS.Signals): void {
  // A command undoing its steps decides how the process ends (interrupt.ts). Any other listener (a
  // library's, such as signal-exit's, which itself holds back while this one listens) does not.
  if (signalsGuarded()) return;
  const code = 128 + (os.constants.signals[signal] ?? 0);
  void endLiveSessions().then(() => process.exit(code));
}

function channelOpened(channel: MuxChannel): void {
  if (liveChannels.size === 0) for (const signal of ENDING_SIGNALS) process.on(signal, onEndingSignal);
  liveChannels.add(channel);
}

function channelGone(channel: MuxChannel): void {
  if (!liveChannels.delete(channel) || liveChannels.size > 0) return;
  for (const signal of ENDING_SIGNALS) process.off(signal, onEndingSignal);
}

/**
 * The channels between their start and their command sent. The master's hellos and its channel's
 * confirmation are each answered from this process's event loop, so work that a caller does meanwhile
 * without yielding holds its commands back: requestsSent() lets it wait for them first, then work while
 * the hosts do.
 */
const opening = new Set<MuxChannel>();
let waitingForSent: (() => void)[] = [];

/** Settles once every channel of this process has sent its command to its host, or given up. */
export function requestsSent(): Promise<void> {
  if (opening.size === 0) return Promise.resolve();
  return new Promise((resolve) => waitingForSent.push(resolve));
}

function openingOver(channel: MuxChannel): void {
  if (!opening.delete(channel) || opening.size > 0) return;
  const waiting = waitingForSent;
  waitingForSent = [];
  for (const resolve of waiting) resolve();
}

type Listener = (text: string) => void;

/** One session channel through the master, from the hellos to the channel's close. */
class MuxChannel implements MuxSession {
  readonly exit: Promise<number>;
  private stage: Stage = "hello";
  private transport: Transport | undefined;
  private readonly framer = new Framer();
  private readonly stdout: Listener[] = [];
  private readonly stderr: Listener[] = [];
  private readonly outText = new TextDecoder();
  private readonly errText = new TextDecoder();
  private remoteChannel = 0;
  private remoteWindow = 0;
  private remotePacket = PACKET_SIZE;
  /** Output taken since our window was last given back. */
  private consumed = 0;
  private input: Uint8Array[] = [];
  private inputEnding = false;
  private inputEnded = false;
  private exitCode: number | undefined;
  private errorText = "";
  private settleExit: (code: number) => void = () => undefined;
  private readonly startTimer: ReturnType<typeof setTimeout>;
  private closeTimer: ReturnType<typeof setTimeout> | undefined;
  /** Ended before it ran (a signal): once the master has opened the channel, it is closed unused. */
  private abandoned = false;
  private settleGone: () => void = () => undefined;
  /** Settles once the master holds nothing of this channel any more (or CLOSE_TIMEOUT_MS after abandon). */
  private readonly gone = new Promise<void>((resolve) => (this.settleGone = resolve));

  constructor(
    private readonly command: string,
    /** Variables for the command's environment, sent as ssh sends SendEnv's: before the command. */
    private readonly environment: readonly (readonly [string, string])[],
    /** Called once: with this channel once the command was sent, or undefined when nothing ran. */
    private readonly started: (session: MuxSession | undefined) => void,
    startTimeoutMs: number,
    onSilent: () => void,
  ) {
    this.exit = new Promise((resolve) => (this.settleExit = resolve));
    opening.add(this);
    this.startTimer = setTimeout(() => {
      if (this.stage === "hello") onSilent();
      this.giveUp();
    }, startTimeoutMs);
  }

  onStdout(listener: Listener): void {
    this.stdout.push(listener);
  }

  onStderr(listener: Listener): void {
    this.stderr.push(listener);
  }

  write(data: string | Uint8Array): void {
    if (this.inputEnding) return;
    this.input.push(typeof data === "string" ? encoder.encode(data) : data);
    this.flushInput();
  }

  end(): void {
    this.inputEnding = true;
    this.flushInput();
  }

  close(): void {
    if (this.stage !== "running") return;
    if (!this.inputEnded) this.sendOnChannel(CHANNEL_EOF);
    this.inputEnded = true;
    this.closeChannel();
  }

  /**
   * Ends the channel whatever its stage, without leaving the master mid-channel: a running command is
   * closed as `close` does; an opening already on its way to the host is waited for, then closed unused.
   */
  abandon(): Promise<void> {
    if (this.stage === "running") this.close();
    else if (this.stage !== "closing" && this.stage !== "closed" && !this.abandoned) {
      this.abandoned = true;
      clearTimeout(this.startTimer);
      if (this.transport === undefined) this.leave();
      else this.closeTimer = setTimeout(() => this.leave(), CLOSE_TIMEOUT_MS);
    }
    return this.gone;
  }

  /** Leaves the socket for good: nothing ran, and nothing will. */
  private leave(): void {
    openingOver(this);
    clearTimeout(this.closeTimer);
    this.stage = "closed";
    this.transport?.destroy();
    this.settleGone();
    channelGone(this);
  }

  connected(transport: Transport): void {
    this.transport = transport;
    if (this.stage === "closed") return transport.destroy();
    channelOpened(this);
    // All three at once: the master reads one message at a time and handles each as the one before left
    // it, so the channel's opening is read as proxy mode's first packet. (Had proxy mode been refused, it
    // would be a mux message the master does not know: a failure reply, and no channel.)
    const hello = framed(concat([u32(MUX_MSG_HELLO), u32(MUX_VERSION)]));
    const proxy = framed(concat([u32(MUX_C_PROXY), u32(1)]));
    const open = packet(CHANNEL_OPEN, sshString("session"), u32(0), u32(WINDOW_SIZE), u32(PACKET_SIZE));
    transport.write(concat([hello, proxy, open]));
  }

  received(bytes: Uint8Array): void {
    try {
      for (const message of this.framer.push(bytes)) {
        if (this.stage === "closed") return;
        this.onMessage(message);
      }
    } catch {
      // A message we cannot read: what the master says is no longer followed.
      if (this.stage === "running") this.finish(CONNECTION_FAILED);
      else this.giveUp();
    }
  }

  disconnected(): void {
    if (this.abandoned && this.stage !== "closing") return this.leave();
    if (this.stage === "closing") return this.finish(this.exitCode ?? CONNECTION_FAILED);
    if (this.stage !== "running") return this.giveUp();
    this.errorText += "the shared ssh connection closed\n";
    this.finish(this.exitCode ?? CONNECTION_FAILED);
  }

  /** Nothing ran: the caller starts ssh. */
  giveUp(): void {
    clearTimeout(this.startTimer);
    if (this.stage === "running" || this.stage === "closing" || this.stage === "closed") return;
    if (this.abandoned) return this.leave();
    this.leave();
    this.started(undefined);
  }

  /**
   * Sends our CLOSE and waits for the host's before the socket goes. The master must see the channel
   * closed both ways while its client is still there: a client that leaves in between (its CLOSE sent,
   * the host's on the way) makes OpenSSH's master (9.2) take a path that, every few hundred times, ends
   * in its own SIGSEGV (sshbuf's sanity check) — the master gone, its socket left behind refusing
   * connections, and every session on it broken.
   */
  private closeChannel(): void {
    this.input = [];
    this.sendOnChannel(CHANNEL_CLOSE);
    this.stage = "closing";
    this.closeTimer = setTimeout(() => this.finish(this.exitCode ?? CONNECTION_FAILED), CLOSE_TIMEOUT_MS);
  }

  private finish(code: number): void {
    openingOver(this);
    if (this.stage === "closed") return;
    clearTimeout(this.closeTimer);
    this.stage = "closed";
    const out = this.outText.decode();
    const err = this.errText.decode() + this.errorText;
    if (out) for (const listener of this.stdout) listener(out);
    if (err) for (const listener of this.stderr) listener(err);
    this.transport?.destroy();
    this.settleGone();
    channelGone(this);
    this.settleExit(code);
  }

  private sendOnChannel(type: number, ...fields: Uint8Array[]): void {
    this.transport?.write(packet(type, u32(this.remoteChannel), ...fields));
  }

  private flushInput(): void {
    if (this.stage !== "running") return;
    while (this.input.length > 0 && this.remoteWindow > 0) {
      const chunk = this.input[0]!;
      const size = Math.min(chunk.length, this.remoteWindow, this.remotePacket);
      this.sendOnChannel(CHANNEL_DATA, sshString(chunk.subarray(0, size)));
      this.remoteWindow -= size;
      if (size === chunk.length) this.input.shift();
      else this.input[0] = chunk.subarray(size);
    }
    if (this.inputEnding && !this.inputEnded && this.input.length === 0) {
      this.inputEnded = true;
      this.sendOnChannel(CHANNEL_EOF);
    }
  }

  private deliver(listeners: Listener[], decoder: TextDecoder, data: Uint8Array): void {
    const text = decoder.decode(data, { stream: true });
    if (text) for (const listener of listeners) listener(text);
    // Our window is given back as the output is taken, as ssh does: half of it at a time.
    this.consumed += data.length;
    if (this.consumed >= WINDOW_SIZE / 2) {
      this.sendOnChannel(CHANNEL_WINDOW_ADJUST, u32(this.consumed));
      this.consumed = 0;
    }
  }

  private onMessage(message: Uint8Array): void {
    if (this.stage === "hello" || this.stage === "proxy") {
      const reader = new Reader(message);
      const [type, second] = [reader.u32(), reader.u32()];
      const expected = this.stage === "hello" ? [MUX_MSG_HELLO, MUX_VERSION] : [MUX_S_PROXY, 1];
      if (type !== expected[0] || second !== expected[1]) return this.giveUp();
      this.stage = this.stage === "hello" ? "proxy" : "open";
      return;
    }
    const reader = new Reader(message);
    reader.byte(); // padding length, always 0 here
    const type = reader.byte();
    if (this.stage === "open") return this.onOpened(type, reader);
    if (this.stage === "running") return this.onChannelMessage(type, reader);
    if (this.stage === "closing") this.onClosingMessage(type, reader);
  }

  private onOpened(type: number, reader: Reader): void {
    if (type === CHANNEL_OPEN_FAILURE) return this.giveUp();
    if (type !== CHANNEL_OPEN_CONFIRMATION) return;
    reader.u32(); // our channel number
    this.remoteChannel = reader.u32();
    this.remoteWindow = reader.u32();
    this.remotePacket = Math.min(reader.u32(), PACKET_SIZE);
    this.stage = "running";
    clearTimeout(this.startTimer);
    if (this.abandoned) {
      clearTimeout(this.closeTimer);
      return this.closeChannel();
    }
    // As ssh's client_session2_setup: no reply wanted (a host whose AcceptEnv does not name one ignores
    // it), all of them right before the command, which the host starts with the ones it took.
    for (const [name, value] of this.environment) {
      this.sendOnChannel(CHANNEL_REQUEST, sshString("env"), Uint8Array.of(0), sshString(name), sshString(value));
    }
    this.sendOnChannel(CHANNEL_REQUEST, sshString("exec"), Uint8Array.of(1), sshString(this.command));
    this.started(this);
    openingOver(this);
    this.flushInput();
  }

  private onChannelMessage(type: number, reader: Reader): void {
    reader.u32(); // our channel number
    switch (type) {
      case CHANNEL_DATA:
        return this.deliver(this.stdout, this.outText, reader.bytes());
      case CHANNEL_EXTENDED_DATA:
        reader.u32(); // 1: stderr, the only kind there is
        return this.deliver(this.stderr, this.errText, reader.bytes());
      case CHANNEL_WINDOW_ADJUST:
        this.remoteWindow += reader.u32();
        return this.flushInput();
      case CHANNEL_REQUEST:
        return this.onRequest(reader);
      case CHANNEL_FAILURE:
        // The exec request refused (the server's ForceCommand or a session limit).
        this.errorText += "the host refused to run the command\n";
        this.exitCode = CONNECTION_FAILED;
        return this.closeChannel();
      case CHANNEL_CLOSE:
        this.sendOnChannel(CHANNEL_CLOSE);
        return this.finish(this.exitCode ?? CONNECTION_FAILED);
      case CHANNEL_SUCCESS: // the exec request taken
      case CHANNEL_EOF: // the end of its output
      default:
        return;
    }
  }

  /** After our CLOSE: only the host's CLOSE (and the exit status before it) still matter. */
  private onClosingMessage(type: number, reader: Reader): void {
    reader.u32(); // our channel number
    if (type === CHANNEL_REQUEST) this.onRequest(reader);
    else if (type === CHANNEL_CLOSE) this.finish(this.exitCode ?? CONNECTION_FAILED);
  }

  private onRequest(reader: Reader): void {
    const name = reader.text();
    const wantReply = reader.byte() !== 0;
    if (name === "exit-status") {
      this.exitCode = reader.u32();
    } else if (name === "exit-signal") {
      const signal = reader.text();
      reader.byte(); // core dumped
      const message = reader.text();
      this.exitCode = 128 + (os.constants.signals[`SIG${signal}` as NodeJS.Signals] ?? 9);
      this.errorText += `the command was killed by SIG${signal}${message ? `: ${message}` : ""}\n`;
    } else if (wantReply && this.stage === "running") {
      this.sendOnChannel(CHANNEL_FAILURE);
    }
  }
}

export interface MuxRunOptions {
  /** Name and value pairs for the command's environment on the host (its sshd's AcceptEnv decides). */
  environment?: readonly (readonly [string, string])[];
  startTimeoutMs?: number;
  /**
   * Called when the master took the connection but did not answer its hello within the start timeout. A
   * master answers that by itself, without the network: it is stopped or wedged, and ssh, which waits for
   * that answer without any time limit, would hang on its socket too.
   */
  onSilent?: () => void;
}

/**
 * Runs `command` (one line for the remote shell, as ssh would send it) through the master listening on
 * `socketPath`. Resolves undefined when there is no usable master (no socket, a refusal, a channel the
 * server would not open, no answer within `startTimeoutMs`): nothing ran, and ssh itself should be used.
 * Once the exec request is sent, the session is the command's, and a broken connection is its exit
 * CONNECTION_FAILED, as with ssh.
 */
export function runThroughMaster(
  socketPath: string,
  command: string,
  options: MuxRunOptions = {},
): Promise<MuxSession | undefined> {
  const { environment = [], startTimeoutMs = START_TIMEOUT_MS, onSilent = () => undefined } = options;
  return new Promise((resolve) => {
    const channel = new MuxChannel(command, environment, resolve, startTimeoutMs, onSilent);
    const events = { data: (bytes: Uint8Array) => channel.received(bytes), closed: () => channel.disconnected() };
    connectUnix(socketPath, events).then((transport) => channel.connected(transport), () => channel.giveUp());
  });
}

/**
 * Whether the master on `socketPath` answers its hello within `timeoutMs`: "absent" when nothing listens
 * there, "silent" when something took the connection but said nothing (a stopped or wedged master).
 */
export function masterAnswers(
  socketPath: string,
  timeoutMs = START_TIMEOUT_MS,
): Promise<"answers" | "silent" | "absent"> {
  return new Promise((resolve) => {
    let transport: Transport | undefined;
    let settled = false;
    const framer = new Framer();
    const settle = (answer: "answers" | "silent" | "absent") => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      transport?.destroy();
      resolve(answer);
    };
    const timer = setTimeout(() => settle("silent"), timeoutMs);
    const events = {
      data: (bytes: Uint8Array) => {
        if (framer.push(bytes).length > 0) settle("answers");
      },
      closed: () => settle("absent"),
    };
    connectUnix(socketPath, events).then((connected) => {
      transport = connected;
      if (settled) return connected.destroy();
      connected.write(framed(concat([u32(MUX_MSG_HELLO), u32(MUX_VERSION)])));
    }, () => settle("absent"));
  });
}

/** The end of a command's stderr that is kept: its last lines say why it failed. */
export const STDERR_KEPT_CHARS = 64 * 1024;

/** What a remote program printed, as collectOutput keeps it. */
export interface CollectedOutput {
  stdout: string;
  stderr: string;
  /** Its stdout went past the limit: `stop` was called and nothing of it is kept. */
  tooLong: boolean;
}

/**
 * Collects a remote program's output: stdout up to `maxChars` (past it, `stop` ends the program: one that prints
 * without end would fill the memory), and the last STDERR_KEPT_CHARS of stderr. Read it once the program exited.
 */
export function collectOutput(
  from: { onStdout(listener: (text: string) => void): void; onStderr(listener: (text: string) => void): void },
  maxChars: number,
  stop: () => void,
): CollectedOutput {
  const out: CollectedOutput = { stdout: "", stderr: "", tooLong: false };
  from.onStdout((text) => {
    if (out.tooLong) return;
    out.stdout += text;
    if (out.stdout.length <= maxChars) return;
    out.tooLong = true;
    out.stdout = "";
    stop();
  });
  from.onStderr((text) => (out.stderr = (out.stderr + text).slice(-STDERR_KEPT_CHARS)));
  return out;
}

/**
 * Gives `input` (if any) to the session, closes its input, and collects its output and exit code. Output past
 * `maxChars` closes the session (`tooLong`).
 */
export function runToEnd(
  session: MuxSession,
  input?: string | Uint8Array,
  maxChars = Number.POSITIVE_INFINITY,
): Promise<{ code: number; stdout: string; stderr: string; tooLong?: boolean }> {
  const out = collectOutput(session, maxChars, () => session.close());
  if (input !== undefined) session.write(input);
  session.end();
  return session.exit.then((code) => {
    const { stdout, stderr, tooLong } = out;
    return { code, stdout, stderr, ...(tooLong ? { tooLong } : {}) };
  });
}
