#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""Write seed scripts for fuzz-tcp (see the comment at the top of fuzz_tcp.c).

Run from anywhere: python3 tests/fuzz/make_tcp_corpus.py
"""
import os
import struct

SYN, ACK, FIN, RST, PSH = 0x02, 0x10, 0x01, 0x04, 0x08


def step(kind, body=b''):
    return struct.pack('>BH', kind, len(body)) + body


def seg(flags, dseq=0, dack=0, window=0xffff, opts=0, optval=0, payload=b''):
    return step(1, struct.pack('>BbBbHBB', flags, dseq, 0, dack, window, opts, optval) + payload)


POLL = step(4)
handshake = seg(SYN, opts=3, optval=7) + POLL + POLL + step(2, b'\x00') + seg(ACK, dack=1)
scripts = {
    'handshake': handshake,
    'upload-fin': handshake + seg(ACK | PSH, payload=b'hello world') + POLL +
    seg(ACK | FIN) + POLL + step(2, b'\x02') + POLL + seg(ACK),
    'download': handshake + step(2, b'\x01\x40') + POLL + seg(ACK, dack=0) + POLL +
    step(3, b'\x05') + step(2, b'\x03') + POLL,
    'reset': handshake + step(2, b'\x04') + POLL + seg(RST),
    'zero-window': handshake + seg(ACK, window=0) + step(2, b'\x01\x10') + POLL +
    step(3, b'\x03') + seg(ACK),
    'timeout': seg(SYN) + step(3, b'\x40') + seg(SYN),
    # the host socket takes 128 bytes a write: the rest is kept, then written
    'refused': handshake + step(2, b'\x05\x02') + seg(ACK | PSH, payload=bytes(300)) +
    seg(ACK | PSH, dseq=44, payload=bytes(200)) + POLL + step(2, b'\x05') + POLL + POLL,
    'refused-fin': handshake + step(2, b'\x05\x01') + seg(ACK | PSH | FIN, payload=bytes(200)) +
    POLL + step(2, b'\x05') + POLL + seg(ACK, dseq=1),
}
here = os.path.join(os.path.dirname(os.path.abspath(__file__)), 'corpus', 'tcp')
os.makedirs(here, exist_ok=True)
for name, data in scripts.items():
    with open(os.path.join(here, name), 'wb') as f:
        f.write(data)
