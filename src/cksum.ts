// POSIX cksum (CRC-32, polynomial 0x04C11DB7, the length appended): the one checksum every Unix has as a
// command, so a file here can be compared with one on a host without a program of orch's there.

const TABLE = Uint32Array.from({ length: 256 }, (_, byte) => {
  let crc = byte << 24;
  for (let bit = 0; bit < 8; bit++) crc = crc & 0x80000000 ? (crc << 1) ^ 0x04c11db7 : crc << 1;
  return crc >>> 0;
});

/** What `cksum < FILE` prints for these bytes: the checksum and the length, space-separated. */
export function posixCksum(bytes: Uint8Array): string {
  let crc = 0;
  for (let i = 0; i < bytes.length; i++) crc = (crc << 8) ^ TABLE[((crc >>> 24) ^ bytes[i]!) & 0xff]!;
  for (let length = bytes.length; length > 0; length = Math.floor(length / 256)) {
    crc = (crc << 8) ^ TABLE[((crc >>> 24) ^ length) & 0xff]!;
  }
  return `${(~crc >>> 0).toString()} ${bytes.length}`;
}
