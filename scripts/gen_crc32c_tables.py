"""Prints the slicing-by-8 tables of csrc/velox/crc32c.c (CRC32C, reflected polynomial
0x82F63B78) as a C initializer; `--check` compares them with the file instead (exit 1 on a
difference).

    python scripts/gen_crc32c_tables.py --check

Table 0 is the byte-at-a-time table: T0[b] = the register after feeding byte b into a zero
register. Table k (1..7) advances T(k-1) by one more zero byte: Tk[b] = (T(k-1)[b] >> 8) ^
T0[T(k-1)[b] & 0xff], so a word of 8 bytes is folded in with 8 lookups."""

import re
import sys

POLY = 0x82F63B78  # 0x1EDC6F41 bit-reversed


def tables():
    t0 = []
    for b in range(256):
        c = b
        for _ in range(8):
            c = (c >> 1) ^ (POLY if c & 1 else 0)
        t0.append(c)
    out = [t0]
    for _ in range(7):
        prev = out[-1]
        out.append([(v >> 8) ^ t0[v & 0xFF] for v in prev])
    return out


def render():
    lines = []
    for t in tables():
        lines.append("    {")
        for i in range(0, 256, 6):
            lines.append("        " + " ".join(f"0x{v:08x}," for v in t[i:i + 6]))
        lines.append("    },")
    return "\n".join(lines)


def main():
    text = render()
    if sys.argv[1:] == ["--check"]:
        with open("csrc/velox/crc32c.c") as f:
            src = f.read()
        m = re.search(r"vx_crc32c_table\[8\]\[256\] = \{\n(.*?)\n\};", src, re.S)
        if not m or m.group(1) != text:
            print("csrc/velox/crc32c.c: tables differ from scripts/gen_crc32c_tables.py", file=sys.stderr)
            return 1
        return 0
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
