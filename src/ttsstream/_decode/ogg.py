"""Incremental Ogg page reader (sans-IO): bytes in, whole logical-stream packets out.

An Ogg stream is a run of pages: ``OggS``, version 0, a header-type byte (continued packet,
first page, last page), a 64-bit granule position, the stream serial number, a page sequence
number, a CRC-32 of the page, and a segment table whose lacing values (255 = the packet goes
on) give the packet lengths. Every page's CRC is checked, so a corrupted page is an error
rather than noise. Only one logical stream is followed (the first serial seen); pages of other
streams (multiplexed or chained) are an error, which is right for a TTS response.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

from .._errors import DecodeError

__all__ = ["OggPacket", "OggReader"]

_HEADER = struct.Struct("<4sBBqIII B")
_MAX_PACKET = 1 << 20  # an Opus packet is at most 120 ms; anything this big is not audio


def _crc_table() -> tuple[int, ...]:
    table = []
    for i in range(256):
        r = i << 24
        for _ in range(8):
            r = ((r << 1) ^ 0x04C11DB7) if r & 0x80000000 else (r << 1)
        table.append(r & 0xFFFFFFFF)
    return tuple(table)


_CRC_TABLE = _crc_table()


def ogg_crc(data: bytes | bytearray | memoryview) -> int:
    """Ogg's CRC-32 (polynomial 0x04C11DB7, not reflected, initial value 0)."""
    crc = 0
    table = _CRC_TABLE
    for b in bytes(data):
        crc = ((crc << 8) & 0xFFFFFFFF) ^ table[(crc >> 24) ^ b]
    return crc


@dataclass(frozen=True)
class OggPacket:
    """One packet of the logical stream.

    ``granule`` is the granule position of the page the packet ends on, or -1 when another
    packet ends after it on that page (only the page's last packet has a known position).
    ``last`` is set for the last packet of a page flagged end-of-stream.
    """

    data: bytes
    granule: int
    last: bool
    page: int


class OggReader:
    """Split an Ogg byte stream fed in pieces of any size into packets.

    >>> r = OggReader()
    >>> r.feed(b"OggS")
    []
    """

    def __init__(self) -> None:
        self._buf = bytearray()
        self._packet = bytearray()  # a packet continued from an earlier page
        self._serial: int | None = None
        self._sequence = -1
        self._pages = 0
        self._offset = 0  # stream offset of self._buf[0]
        self._ended = False

    @property
    def pages(self) -> int:
        """Pages read so far."""
        return self._pages

    @property
    def pending(self) -> int:
        """Bytes of an incomplete page held."""
        return len(self._buf)

    def feed(self, data: bytes | bytearray | memoryview) -> list[OggPacket]:
        """Consume ``data``; return the packets it completes, in order."""
        self._buf += data
        out: list[OggPacket] = []
        while True:
            buf = self._buf
            if len(buf) < 27:
                if buf and not b"OggS".startswith(bytes(buf[:4])):
                    self._bad_capture()
                return out
            if buf[:4] != b"OggS":
                self._bad_capture()
            _, version, flags, granule, serial, sequence, _crc, count = _HEADER.unpack_from(buf)
            if version != 0:
                raise DecodeError(
                    f"Ogg page at byte {self._offset} has version {version}; only 0 exists"
                )
            if len(buf) < 27 + count:
                return out
            lacing = buf[27 : 27 + count]
            size = 27 + count + sum(lacing)
            if len(buf) < size:
                return out
            page = bytes(buf[:size])
            del buf[:size]
            self._check_page(page, flags, serial, sequence)
            self._read_packets(page[27 + count :], lacing, flags, granule, out)
            self._offset += size
            self._pages += 1

    def flush(self) -> None:
        """End the stream: raise :class:`DecodeError` if it stopped inside a page."""
        if self._buf:
            raise DecodeError(
                f"the Ogg stream ended inside a page: {len(self._buf)} bytes of an incomplete "
                f"page at byte {self._offset}; the connection may have been cut"
            )

    def _bad_capture(self) -> None:
        head = bytes(self._buf[:8])
        raise DecodeError(
            f"Ogg stream out of step at byte {self._offset}: expected a page ('OggS'), "
            f"found {head!r}; the stream is corrupted or not Ogg"
        )

    def _check_page(self, page: bytes, flags: int, serial: int, sequence: int) -> None:
        at = self._offset
        zeroed = page[:22] + b"\0\0\0\0" + page[26:]
        if ogg_crc(zeroed) != struct.unpack_from("<I", page, 22)[0]:
            raise DecodeError(f"Ogg page at byte {at} fails its CRC check: the stream is corrupted")
        if self._serial is None:
            if not flags & 0x02:
                raise DecodeError(
                    f"the first Ogg page (byte {at}) lacks the beginning-of-stream flag"
                )
            self._serial = serial
        elif serial != self._serial:
            raise DecodeError(
                f"Ogg page at byte {at} belongs to another logical stream (serial {serial:#x}); "
                "multiplexed or chained Ogg streams are not supported"
            )
        elif self._ended:
            raise DecodeError(f"Ogg page at byte {at} follows the end-of-stream page")
        if self._sequence >= 0 and sequence != self._sequence + 1:
            raise DecodeError(
                f"Ogg page at byte {at} has sequence number {sequence}, expected "
                f"{self._sequence + 1}: pages are missing"
            )
        if bool(flags & 0x01) != bool(self._packet):
            raise DecodeError(
                f"Ogg page at byte {at}: its continuation flag does not match the packet before it"
            )
        self._sequence = sequence
        self._ended = bool(flags & 0x04)

    def _read_packets(
        self, body: bytes, lacing: bytes | bytearray, flags: int, granule: int, out: list[OggPacket]
    ) -> None:
        ends = [i for i, v in enumerate(lacing) if v < 255]
        pos = 0
        for i, v in enumerate(lacing):
            self._packet += body[pos : pos + v]
            pos += v
            if len(self._packet) > _MAX_PACKET:
                raise DecodeError(
                    f"an Ogg packet over {_MAX_PACKET} bytes near byte {self._offset}"
                )
            if v < 255:
                is_last = i == ends[-1]
                out.append(
                    OggPacket(
                        bytes(self._packet),
                        granule if is_last else -1,
                        is_last and bool(flags & 0x04),
                        self._pages,
                    )
                )
                self._packet.clear()
