// Types for the Lattice JavaScript client (lattice.js) and its CRDT core (crdt.js).

/** A JSON scalar: the only values Lattice stores. Integers are exact within ±(2^53-1). */
export type Scalar = null | boolean | number | string;

/** The plain value of an object: a counter's number, a set's or mvreg's array, a map's object, a register's scalar, a flag's boolean, a text's string. */
export type PlainValue = Scalar | Scalar[] | { [field: string]: PlainValue };

export type TypeName = 'gcounter' | 'counter' | 'set' | 'map' | 'lww' | 'mvreg' | 'flag' | 'text' | 'list';
export type OpName = 'inc' | 'dec' | 'add' | 'remove' | 'set' | 'enable' | 'disable' | 'delete' | 'insert' | 'move';

/**
 * An operation in its JSON form, e.g. {type:'counter', op:'inc', by:1},
 * {type:'lww', op:'set', path:['title'], value:'Plan'}, {type:'map', op:'delete', path:['cards','c1']},
 * {type:'text', op:'insert', index:3, value:'abc'}, {type:'text', op:'delete', index:3, count:2}.
 * With a path the object is a map; every field but the last is a map and the last is of `type`.
 * A text's index and count are Unicode code points, not UTF-16 units.
 * A list: {type:'list', op:'insert', index:0, value:'x' or {title:'x'}} (an object makes a map element of
 * lww fields), {type:'list', op:'delete', index:1, count:2}, {type:'list', op:'move', from:3, to:0}.
 * A path may hold one list index, followed by fields of that map element: path:['todo', 2, 'title'].
 */
export interface OpJSON {
  type: TypeName;
  op: OpName;
  path?: (string | number)[];
  value?: Scalar | Record<string, Scalar>;
  by?: number;
  index?: number;
  count?: number;
  from?: number;
  to?: number;
}

/** A hybrid logical clock reading: milliseconds since the epoch and a logical counter. */
export interface Timestamp {
  wall: number;
  logical: number;
}

/** The canonical JSON structure of a state or delta (docs/crdt.md, "The JSON encoding"). */
export interface WireState {
  types: TypeName[];
  leaves: [unknown[], unknown[][]][];
  ctx: { vv: [string, number][]; cloud: [string, number][] };
}

/** Error codes of the CRDT core; the vectors name 'limit' as 'invalid'. */
export type CrdtErrorCode = 'invalid' | 'wrong_type' | 'invalid_op' | 'limit' | 'seq_exhausted';

export class CrdtError extends Error {
  readonly code: CrdtErrorCode;
}

/** A decoded, validated operation. */
export class Op {
  readonly type: number;
  readonly kind: OpName;
  readonly path: readonly string[];
  readonly value: Scalar;
  readonly by: number;
  readonly index: number;
  readonly count: number;
  toJSON(): OpJSON;
}

/** parseOp decodes and validates an operation; throws CrdtError. */
export function parseOp(op: OpJSON | string | Op): Op;

/** A hybrid logical clock. It never reads the time: pass physical time in ms. */
export class Clock {
  constructor(last?: Timestamp);
  last: Timestamp;
  now(pt: number): Timestamp;
  update(pt: number, remote: Timestamp): Timestamp;
}

/** The state of one key, or a delta: the same type. */
export class CrdtObject {
  /** apply performs op as replica at time now, changes this object and returns the delta. Throws CrdtError and changes nothing on a bad op. */
  apply(replica: string, now: Timestamp, op: OpJSON | string | Op): CrdtObject;
  /** join merges any state or delta in: commutative, associative, idempotent. */
  join(other: CrdtObject): this;
  value(): PlainValue;
  /** The text at path (field names; none for a text object), "" if there is none. */
  text(path?: string[]): string;
  type(): number;
  typeName(): TypeName | null;
  typeNames(): TypeName[];
  isEmpty(): boolean;
  clone(): CrdtObject;
  equals(other: CrdtObject): boolean;
  maxTimestamp(): Timestamp;
  /** The canonical JSON text (byte-identical to the Go core's). */
  toJSON(): string;
  /** The canonical JSON structure: JSON.stringify(o.toWire()) === o.toJSON(). */
  toWire(): WireState;
  /** fold folds writer w of a root counter into the fold replica into and returns the delta. Only nodes fold; it is here for the conformance vectors. */
  fold(w: string, into: string): CrdtObject;
  static fromJSON(state: string | WireState): CrdtObject;
}

export function compareValues(a: Scalar, b: Scalar): number;
export function compareTimestamps(a: Timestamp, b: Timestamp): number;
export function isReplicaId(s: unknown): boolean;
/** The code points of s: what a text's index and count count. */
export function codePoints(s: string): string[];
/** A UTF-16 offset into s as a code point index, and back. */
export function codePointIndex(s: string, index16: number): number;
export function utf16Index(s: string, index: number): number;
export const TEXT_BLOCK: 256;
export function textAnchor(obj: CrdtObject, path: string[], index: number): TextAnchor;
export function anchorIndex(obj: CrdtObject, path: string[], anchor: TextAnchor): number;
/** snapshotTexts records an object's texts; textChanges then says what changed since, as edits. */
export function snapshotTexts(obj: CrdtObject): unknown;
export function textChanges(snapshot: unknown, obj: CrdtObject): TextChange[];
export const MAX_TEXT_INSERT: 65536;

// ---------------------------------------------------------------------------
// The client

export type Status = 'online' | 'connecting' | 'offline';

/** What a Store saves: everything a client needs to resume after a reload. */
export interface Snapshot {
  v: 1;
  replica: string;
  cursor: Cursor | null;
  synced: string[];
  nextId: number;
  clock: Timestamp;
  objects: [string, WireState][];
  pending: [number, string, WireState][];
}

/** Where a client keeps its replica between sessions. */
export interface Store {
  load(): Promise<Snapshot | undefined>;
  save(snapshot: Snapshot): Promise<void>;
}

export class MemoryStore implements Store {
  load(): Promise<Snapshot | undefined>;
  save(snapshot: Snapshot): Promise<void>;
}

export class IndexedDBStore implements Store {
  constructor(name?: string, idb?: IDBFactory);
  load(): Promise<Snapshot | undefined>;
  save(snapshot: Snapshot): Promise<void>;
}

/** IndexedDB in a browser, memory elsewhere. */
export function defaultStore(name?: string): Store;

/** A node version vector: how much of each node's delta log the client has seen. */
export type Cursor = Record<string, number>;

export interface Backoff {
  /** ms before the first retry. Default 250. */
  initial?: number;
  /** ms, the cap. Default 10000. */
  max?: number;
  /** growth per failed attempt. Default 2. */
  factor?: number;
  /** fraction of each delay that is random. Default 0.5. */
  jitter?: number;
}

export const DEFAULT_BACKOFF: Required<Backoff>;
export const PROTOCOL_VERSION: 1;

export interface ClientOptions {
  /** ws:// or wss:// node URLs ending in /v1/ws; the client moves to the next one when a connection fails. */
  urls: string[];
  /** This replica's id, a lowercase UUID. Default: the store's, or a new random one. Only pass it with a store that keeps state. */
  replica?: string;
  /** Default: IndexedDB in a browser, memory elsewhere. */
  store?: Store;
  /** A token (docs/security.md) sent in hello: a string, or a function returning one, called on every connect and again at once when the node closes with 4004 token_expired. */
  token?: string | (() => string | Promise<string>);
  backoff?: Backoff;
  /** A WebSocket constructor. Default: globalThis.WebSocket. */
  WebSocket?: unknown;
  /** ms between pings; 0 turns them off. Default 20000. */
  pingInterval?: number;
  /** ms to wait for welcome before trying the next URL. Default 10000. */
  connectTimeout?: number;
  /** The IndexedDB database name suffix of the default store. */
  name?: string;
  /** For tests: hooks into the message flow. */
  testHooks?: {
    ignoreAck?(id: number, client: Client): boolean;
    afterSend?(id: number, client: Client): void;
    onMessage?(msg: Record<string, unknown>, client: Client): void;
  };
}

/** One step of a text change: at index delete `delete` characters, then insert `insert`. */
export interface TextEdit {
  /** Code points, in the text as the edits before this one left it. */
  index: number;
  delete: number;
  insert: string;
  /** The same positions in UTF-16 units, what a textarea counts. */
  index16: number;
  delete16: number;
}

/** What happened to one text of a key: the key itself (path []) or the text field path names. */
/** One step of a list change, applied in order to the array as it was (crdt/list_edits.go). */
export type ListEdit =
  | { op: 'insert'; index: number; value: PlainValue }
  | { op: 'delete'; index: number; count: number }
  | { op: 'move'; from: number; to: number }
  | { op: 'set'; index: number; value: PlainValue };

/** What happened to one list of an object: path [] for the object itself, else its field names. */
export interface ListChange {
  path: string[];
  edits: ListEdit[];
}

export function snapshotLists(obj: CrdtObject): unknown;
export function listChanges(snapshot: unknown, obj: CrdtObject): ListChange[];

export interface TextChange {
  path: string[];
  edits: TextEdit[];
}

/** A character of a text, [replica, seq], or null for the start: a cursor that follows concurrent edits. */
export type TextAnchor = [string, number] | null;

/** One connection's presence on a key. */
export interface PresenceState {
  conn: string;
  replica: string;
  state: Record<string, unknown>;
}

/** What 'presence' events carry; state is null when the presence is gone. */
export interface PresenceEvent {
  key: string;
  conn: string;
  replica: string;
  state: Record<string, unknown> | null;
}

export interface ChangeEvent {
  key: string;
  value: PlainValue;
  /** 'local' for this client's edits, 'remote' for what arrived from a node. */
  source: 'local' | 'remote';
  /** For keys holding collaborative text: each text that changed, as edits an editor applies in order. */
  text?: TextChange[];
  /** What happened to the key's lists (outermost ones), as positions: an app applies these to its arrays. */
  list?: ListChange[];
  // For a local text edit, `value` (the whole text) is computed when first read: read it in the listener.
}

/** What 'error' events carry: a protocol error code (docs/protocol.md) or a client-side one. */
export class LatticeError extends Error {
  readonly code: string;
  /** The id of the refused message, if it had one. */
  readonly id?: number;
  /** The key of a refused delta. */
  readonly key?: string;
  /** The key or prefix of a refused subscription. */
  readonly subscription?: string;
  /** The WebSocket close code, for errors a close produced. */
  readonly closeCode?: number;
}

export interface SetOptions {
  path?: string | string[];
}

export class Client {
  constructor(options: ClientOptions);
  readonly replica: string;
  readonly status: Status;
  /** Local deltas no node has acknowledged yet. */
  readonly pending: number;
  /** The resume cursor, or null before the first snapshot. */
  readonly cursor: Cursor | null;
  /**
   * The cluster id of the nodes this replica synced with, from their
   * welcome; null before the first that reports one. Nodes of another
   * cluster are refused with a 'wrong_cluster' error event.
   */
  readonly cluster: string | null;
  /** The hybrid clock's last timestamp: this replica's next edit ranks after it. */
  readonly clock: Timestamp;
  /** The name of the node this client is connected to, or null. */
  readonly node: string | null;
  token?: ClientOptions['token'];

  /** Loads the persisted replica, then connects (unless offline). Resolves once loaded. */
  open(): Promise<void>;
  /** Disconnects for good and waits until the state is saved. */
  close(): Promise<void>;
  setOffline(offline: boolean): void;
  reconnect(options?: { next?: boolean }): void;
  /** Resolves once everything changed so far is saved. */
  flush(): Promise<void>;

  /** Subscribe to a key, or with {prefix: true} to every key under a prefix. Returns an unsubscribe function. */
  subscribe(keyOrPrefix: string, options?: { prefix?: boolean }): () => void;
  unsubscribe(keyOrPrefix: string, options?: { prefix?: boolean }): void;

  get(key: string): PlainValue;
  typeOf(key: string): TypeName | null;
  /** The canonical JSON state of key. */
  canonical(key: string): string;
  keys(prefix?: string): string[];

  /** Applies op locally at once and queues its delta. Throws CrdtError (nothing changes) on a bad or wrong-type op. Returns the new value. */
  apply(key: string, op: OpJSON | string): PlainValue;
  inc(key: string, by?: number, options?: SetOptions & { type?: 'counter' | 'gcounter' }): PlainValue;
  dec(key: string, by?: number, options?: SetOptions): PlainValue;
  add(key: string, value: Scalar, options?: SetOptions): PlainValue;
  remove(key: string, value: Scalar, options?: SetOptions): PlainValue;
  set(key: string, value: Scalar, options?: SetOptions & { type?: 'lww' | 'mvreg' }): PlainValue;
  enable(key: string, options?: SetOptions): PlainValue;
  disable(key: string, options?: SetOptions): PlainValue;
  /** Removes the map field path names, whatever its type. */
  del(key: string, path: string | string[]): PlainValue;
  /** Inserts str into a text at index (code points; UTF-16 units with options.index16). */
  insertText(key: string, index: number, str: string, options?: SetOptions & { index16?: boolean }): PlainValue;
  /** insertItem inserts a scalar, or an object of scalars (a map element), into a list at index. */
  insertItem(key: string, index: number, value: Scalar | Record<string, Scalar>, options?: SetOptions): PlainValue;
  /** deleteItems deletes count elements of a list from index. */
  deleteItems(key: string, index: number, count?: number, options?: SetOptions): PlainValue;
  /** moveItem moves the element of a list at from so that it ends at index to. */
  moveItem(key: string, from: number, to: number, options?: SetOptions): PlainValue;
  /** Deletes count characters of a text from index (code points; UTF-16 units with options.index16). */
  deleteText(key: string, index: number, count: number, options?: SetOptions & { index16?: boolean }): PlainValue;
  /** The text at key, or at its text field path; "" if there is none. */
  text(key: string, path?: string | string[]): string;
  /** Publishes this client's presence on key (a small object, at most 1 KiB as JSON), or clears it with null. Never stored; resent on reconnect. */
  setPresence(key: string, state: Record<string, unknown> | null): void;
  /** The others' presence on key. */
  presence(key: string): PresenceState[];
  /** A stable anchor for a cursor at index (code points) in a text, to put in a presence state. */
  anchor(key: string, index: number, path?: string | string[]): TextAnchor;
  /** Where an anchor (maybe another client's) now is in a text, in code points. */
  anchorIndex(key: string, anchor: TextAnchor, path?: string | string[]): number;

  on(event: 'change', fn: (event: ChangeEvent) => void): () => void;
  on(event: 'presence', fn: (event: PresenceEvent) => void): () => void;
  on(event: 'status', fn: (status: Status) => void): () => void;
  on(event: 'error', fn: (error: LatticeError) => void): () => void;
  off(event: 'change' | 'status' | 'error' | 'presence', fn: (arg: any) => void): void;
  onKey(key: string, fn: (value: PlainValue, event: ChangeEvent) => void): () => void;
  onPrefix(prefix: string, fn: (event: ChangeEvent) => void): () => void;
}
