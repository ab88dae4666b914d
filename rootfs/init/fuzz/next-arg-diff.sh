#!/bin/sh
# Differential check of src/cmdline.rs against the kernel's own command-line splitting: random
# lines go through `cmdline::params` and through next_arg() taken verbatim from the pinned
# kernel's lib/cmdline.c (with lib/ctype.c's isspace() and parse_args()' stop at "--"); both
# print every parameter and value in hex, and the outputs must be identical.
#
#   rootfs/init/fuzz/next-arg-diff.sh [LINES [SEED]]      (needs cc, rustc, the kernel source)
set -eu
lines=${1:-1000000}
seed=${2:-1}
init=$(cd "$(dirname "$0")/.." && pwd)
cache=${APPLIANCE_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/ipe-appliance}
kernel=$(ls -d "$cache"/src/linux-*/ | head -n 1)
kernel=${kernel%/}
[ -f "$kernel/lib/cmdline.c" ] || { echo "no kernel source in $cache/src: run cargo xtask setup" >&2; exit 1; }
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

{
    cat <<'C'
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
static int isspace_k(unsigned char c) { return (c >= 9 && c <= 13) || c == ' ' || c == 0xa0; }
#define isspace(c) isspace_k((unsigned char)(c))
static char *skip_spaces(const char *s) { while (isspace(*s)) ++s; return (char *)s; }
C
    sed -n '/^char \*next_arg(char \*args, char \*\*param, char \*\*val)$/,/^}$/p' "$kernel/lib/cmdline.c"
    cat <<'C'
static void hex(const char *s) {
    if (!s) { printf("-"); return; }
    printf("'");
    for (; *s; s++) printf("%02x", (unsigned char)*s);
}
int main(void) {
    unsigned int len;
    while (fread(&len, 4, 1, stdin) == 1) {
        char *buf = calloc(len + 1, 1), *args, *param, *val;
        if (!buf || fread(buf, 1, len, stdin) != len) return 1;
        for (args = skip_spaces(buf); *args;) {
            args = next_arg(args, &param, &val);
            if (!val && strcmp(param, "--") == 0) break;
            hex(param); printf(" "); hex(val); printf(";");
        }
        printf("\n");
        free(buf);
    }
    return 0;
}
C
} > "$work/next_arg.c"
grep -q '^char \*next_arg' "$work/next_arg.c" || { echo "next_arg() not found in $kernel/lib/cmdline.c" >&2; exit 1; }
cc -O2 -Wall -o "$work/next_arg" "$work/next_arg.c"

cat > "$work/driver.rs" <<RS
//! Writes LINES random command lines, length-prefixed, to the file in argv[3], and prints how
//! cmdline::params splits each.
#[allow(dead_code)]
#[path = "$init/src/cmdline.rs"]
mod cmdline;
use std::io::Write;

fn hex(out: &mut impl Write, bytes: Option<&[u8]>) {
    match bytes {
        None => write!(out, "-").unwrap(),
        Some(bytes) => {
            write!(out, "'").unwrap();
            bytes.iter().for_each(|b| write!(out, "{b:02x}").unwrap());
        }
    }
}

fn main() {
    let arg = |i: usize| std::env::args().nth(i).unwrap();
    let (count, mut state): (usize, u64) = (arg(1).parse().unwrap(), arg(2).parse().unwrap());
    let mut lines = std::io::BufWriter::new(std::fs::File::create(arg(3)).unwrap());
    let mut out = std::io::BufWriter::new(std::io::stdout().lock());
    // xorshift64; the bytes that steer the kernel's splitting come most often.
    state = state.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    let steering = b"ab=\"\" \t\n\x0b\x0c\r\xa0\xc3-,.\0x";
    for _ in 0..count {
        let line: Vec<u8> = (0..next() % 24)
            .map(|_| match next() {
                r if r % 10 == 0 => (r >> 8) as u8,
                r => steering[(r >> 8) as usize % steering.len()],
            })
            .collect();
        lines.write_all(&(line.len() as u32).to_le_bytes()).unwrap();
        lines.write_all(&line).unwrap();
        for (param, value) in cmdline::params(&line) {
            hex(&mut out, Some(param));
            write!(out, " ").unwrap();
            hex(&mut out, value);
            write!(out, ";").unwrap();
        }
        writeln!(out).unwrap();
    }
}
RS
rustc --edition 2024 -O -o "$work/driver" "$work/driver.rs"

"$work/driver" "$lines" "$seed" "$work/lines" > "$work/rust.txt"
"$work/next_arg" < "$work/lines" > "$work/kernel.txt"
if cmp -s "$work/rust.txt" "$work/kernel.txt"; then
    echo "$lines lines (seed $seed): cmdline::params splits every one as $kernel/lib/cmdline.c does"
else
    echo "cmdline::params and the kernel's next_arg() differ; first difference (line number, Rust, kernel):" >&2
    diff "$work/rust.txt" "$work/kernel.txt" | head -n 4 >&2
    exit 1
fi
