# IPv4 header checksum (RFC 1071) of the header at r1, r2 bytes long (even), skipping the
# checksum field itself: r0 = the checksum the header should carry.
# Run: vouch run examples/ipv4_checksum.s --input examples/ipv4_header.bin  (expects 0xb861)
    mov %r0, 0              # running sum
    mov %r3, 0              # byte offset
loop:
    jge %r3, %r2, fold
    jeq %r3, 10, next       # bytes 10-11 hold the checksum
    mov %r4, %r1
    add %r4, %r3
    ldxh %r5, [%r4]
    be16 %r5                # network to host byte order
    add %r0, %r5
next:
    add %r3, 2
    ja loop
fold:                       # fold the carries twice, then complement
    mov %r4, %r0
    rsh %r4, 16
    and %r0, 0xffff
    add %r0, %r4
    mov %r4, %r0
    rsh %r4, 16
    add %r0, %r4
    xor %r0, 0xffff
    and %r0, 0xffff
    exit
