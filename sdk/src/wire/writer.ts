/**
 * A protobuf writer for the hand-written codecs: the same encoding as protobuf-es's
 * BinaryWriter (the property tests compare the bytes), written into one growing buffer.
 * BinaryWriter allocates a chunk per string and per scalar and a buffer per sub-message;
 * here a sub-message reserves one byte for its length and is moved only when it turns out
 * longer than 127 bytes, and ASCII strings are copied byte by byte.
 */
const utf8 = new TextEncoder();

export class Writer {
  private buf = new Uint8Array(512);
  private view = new DataView(this.buf.buffer);
  private pos = 0;
  private readonly forks: number[] = [];

  private ensure(bytes: number): void {
    if (this.pos + bytes <= this.buf.length) return;
    const grown = new Uint8Array(Math.max(this.buf.length * 2, this.pos + bytes));
    grown.set(this.buf.subarray(0, this.pos));
    this.buf = grown;
    this.view = new DataView(grown.buffer);
  }

  tag(fieldNo: number, wireType: number): this {
    return this.uint32(((fieldNo << 3) | wireType) >>> 0);
  }

  uint32(value: number): this {
    this.ensure(5);
    const buf = this.buf;
    while (value > 0x7f) {
      buf[this.pos++] = (value & 0x7f) | 0x80;
      value >>>= 7;
    }
    buf[this.pos++] = value;
    return this;
  }

  /** A negative int32 is sign-extended to 64 bits: ten bytes, as protobuf requires. */
  int32(value: number): this {
    if (value >= 0) return this.uint32(value);
    this.ensure(10);
    const buf = this.buf;
    for (let i = 0; i < 9; i++) {
      buf[this.pos++] = (value & 0x7f) | 0x80;
      value >>= 7;
    }
    buf[this.pos++] = 1;
    return this;
  }

  int64(value: bigint): this {
    const n = Number(value);
    if (n >= 0 && n <= 0xffffffff) return this.uint32(n);
    this.ensure(10);
    let v = BigInt.asUintN(64, value);
    while (v > 0x7fn) {
      this.buf[this.pos++] = Number(v & 0x7fn) | 0x80;
      v >>= 7n;
    }
    this.buf[this.pos++] = Number(v);
    return this;
  }

  bool(value: boolean): this {
    this.ensure(1);
    this.buf[this.pos++] = value ? 1 : 0;
    return this;
  }

  double(value: number): this {
    this.ensure(8);
    this.view.setFloat64(this.pos, value, true);
    this.pos += 8;
    return this;
  }

  string(value: string): this {
    const n = value.length;
    this.ensure(5 + 3 * n); // UTF-8 takes at most three bytes per UTF-16 unit
    this.fork();
    const buf = this.buf;
    let pos = this.pos;
    let i = 0;
    for (; i < n; i++) {
      const c = value.charCodeAt(i);
      if (c >= 0x80) break;
      buf[pos++] = c;
    }
    if (i < n) pos = this.pos + utf8.encodeInto(value, buf.subarray(this.pos)).written;
    this.pos = pos;
    return this.join();
  }

  raw(bytes: Uint8Array): this {
    this.ensure(bytes.length);
    this.buf.set(bytes, this.pos);
    this.pos += bytes.length;
    return this;
  }

  /** Starts a length-delimited part; `join()` writes its length before it. */
  fork(): this {
    this.ensure(1);
    this.forks.push(this.pos++);
    return this;
  }

  join(): this {
    const at = this.forks.pop()!;
    const start = at + 1;
    const length = this.pos - start;
    if (length < 0x80) {
      this.buf[at] = length;
      return this;
    }
    const size = length < 1 << 14 ? 2 : length < 1 << 21 ? 3 : length < 1 << 28 ? 4 : 5;
    this.ensure(size - 1);
    this.buf.copyWithin(at + size, start, this.pos);
    this.pos += size - 1;
    let v = length;
    let p = at;
    while (v > 0x7f) {
      this.buf[p++] = (v & 0x7f) | 0x80;
      v >>>= 7;
    }
    this.buf[p] = v;
    return this;
  }

  /** A copy of what was written. */
  finish(): Uint8Array {
    return this.buf.slice(0, this.pos);
  }

  /**
   * Empties the writer for the next message. The codecs keep one writer each and reset it
   * per message (encoding is synchronous): no buffer is allocated per message, and one that
   * grew past 1 MiB for a large message is let go.
   */
  reset(): this {
    this.pos = 0;
    this.forks.length = 0;
    if (this.buf.length > 1 << 20) {
      this.buf = new Uint8Array(512);
      this.view = new DataView(this.buf.buffer);
    }
    return this;
  }
}
