//! Keyed permutations: how `unique: true` holds by construction.
//!
//! A unique-capable transform never looks values up or retries: it encrypts
//! them with a keyed permutation of their own domain, so two different
//! inputs cannot give the same output whatever the subset, the order of the
//! rows or the number of workers.
//!
//! - [`Prf`] is SipHash-2-4 under a 128-bit key derived once per namespace
//!   from the run's HMAC key (SipHash is a PRF built for short inputs and
//!   costs ~15 ns, against ~150 ns for an HMAC-SHA256).
//! - [`Prf::permute_bits`] permutes `[0, 2^bits)` with the alternating
//!   Feistel network of NIST FF1 (10 rounds, modular addition), and
//!   [`Prf::permute_below`] any `[0, n)` by cycle walking: integers, UUIDs.
//! - [`Prf::permute_symbols`] permutes strings of symbols with a radix per
//!   position (a Feistel network adding per position; 10 rounds, or 6 when
//!   both halves are large, see [`symbol_rounds`]), and [`TextCipher`]
//!   turns text into such symbols: a letter stays a letter, a digit a digit,
//!   punctuation and length are kept. Email local parts, usernames, phone
//!   numbers and digit strings go through it.
//!
//! Every construction here is pinned by golden tests: changing a constant
//! changes every output of every user.

use super::Key;

/// Feistel rounds, as in NIST FF1.
const ROUNDS: u64 = 10;

/// Feistel rounds of [`Prf::permute_symbols`] when each half can take at
/// least 2^[`LARGE_HALF_BITS`] values. Patarin ("Security of Random
/// Feistel Schemes with 5 or More Rounds", CRYPTO 2004) shows 6 rounds of
/// a balanced Feistel network over halves of N values indistinguishable
/// from a random permutation under chosen plaintexts and ciphertexts for
/// q ≪ N queries; with N ≥ 2^40 no table comes near. The known attacks on
/// FF1/FF3 that make their 8 and 10 rounds necessary (Bellare–Hoang–
/// Tessaro 2016, Durak–Vaudenay 2017, Hoang–Miller–Trieu 2019) need
/// halves small enough to enumerate, so small domains keep [`ROUNDS`].
const LARGE_HALF_ROUNDS: u64 = 6;

/// See [`LARGE_HALF_ROUNDS`].
const LARGE_HALF_BITS: u32 = 40;

/// A keyed pseudo-random function: SipHash-2-4.
#[derive(Clone, Copy)]
pub struct Prf {
    k0: u64,
    k1: u64,
}

impl std::fmt::Debug for Prf {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Prf(<redacted>)")
    }
}

impl Prf {
    /// The PRF of `namespace`, derived from the run's key.
    pub fn derive(key: &Key, namespace: &[u8]) -> Prf {
        // The 0xff byte never occurs in a UTF-8 namespace, so this key can
        // never equal the digest a transform computes for some value (which
        // a `hash` in the same namespace would print).
        let mut ns = Vec::with_capacity(namespace.len() + 9);
        ns.extend_from_slice(b"\xffprf-key:");
        ns.extend_from_slice(namespace);
        let d = key.digest(&ns, b"");
        Prf::from_keys(
            u64::from_le_bytes(d[0..8].try_into().expect("8 bytes")),
            u64::from_le_bytes(d[8..16].try_into().expect("8 bytes")),
        )
    }

    /// A PRF with explicit keys (test vectors).
    pub fn from_keys(k0: u64, k1: u64) -> Prf {
        Prf { k0, k1 }
    }

    /// An identity for caches: a keyed hash of the keys themselves, so the
    /// keys never sit in a cache entry.
    pub fn id(&self) -> u64 {
        self.words(&[0x6964])
    }

    /// SipHash-2-4 of `bytes`.
    pub fn bytes(&self, bytes: &[u8]) -> u64 {
        let mut s = Sip::new(self.k0, self.k1);
        let mut chunks = bytes.chunks_exact(8);
        for c in &mut chunks {
            s.compress(u64::from_le_bytes(c.try_into().expect("8 bytes")));
        }
        let mut tail = 0u64;
        for (i, &b) in chunks.remainder().iter().enumerate() {
            tail |= u64::from(b) << (8 * i);
        }
        s.finish(tail, bytes.len())
    }

    /// SipHash-2-4 of the little-endian bytes of `first` followed by `bytes`.
    pub fn bytes_after(&self, first: u64, bytes: &[u8]) -> u64 {
        self.words_after(first, bytes, |w| w)
    }

    /// [`Prf::bytes_after`] of `bytes` in ASCII lower case, without
    /// writing the lower-case copy anywhere.
    pub fn bytes_after_lowercase(&self, first: u64, bytes: &[u8]) -> u64 {
        self.words_after(first, bytes, |mut w| {
            w.make_ascii_lowercase();
            w
        })
    }

    /// SipHash-2-4 of `first` followed by `bytes`, each word of 8 bytes
    /// (the last one zero-padded) passed through `map` as it is read.
    #[inline]
    fn words_after(&self, first: u64, bytes: &[u8], map: impl Fn([u8; 8]) -> [u8; 8]) -> u64 {
        let mut s = Sip::new(self.k0, self.k1);
        s.compress(first);
        let mut chunks = bytes.chunks_exact(8);
        for c in &mut chunks {
            s.compress(u64::from_le_bytes(map(c.try_into().expect("8 bytes"))));
        }
        let mut tail = [0u8; 8];
        tail[..chunks.remainder().len()].copy_from_slice(chunks.remainder());
        s.finish(u64::from_le_bytes(map(tail)), 8 + bytes.len())
    }

    /// SipHash-2-4 of the little-endian bytes of `words`.
    #[inline]
    pub fn words(&self, words: &[u64]) -> u64 {
        let mut s = Sip::new(self.k0, self.k1);
        for &w in words {
            s.compress(w);
        }
        s.finish(0, words.len() * 8)
    }

    /// A keyed permutation of `[0, 2^bits)`, `bits` in `1..=128`: FF1's
    /// alternating Feistel network with the PRF as round function.
    pub fn permute_bits(&self, tweak: u64, bits: u32, x: u128) -> u128 {
        debug_assert!((1..=128).contains(&bits));
        let u = bits / 2;
        let v = bits - u;
        // A holds the high u bits, B the low v bits; both fit 64 bits.
        let mut a = (x >> v) as u64;
        let mut b = (x & mask128(v)) as u64;
        // Every round hashes [tweak, round, B]: absorb the tweak once.
        let mut prefix = Sip::new(self.k0, self.k1);
        prefix.compress(tweak);
        for i in 0..ROUNDS {
            let m = if i % 2 == 0 { u } else { v };
            let mut h = prefix.clone();
            h.compress(i | (u64::from(bits) << 8));
            h.compress(b);
            let f = h.finish(0, 24);
            let c = a.wrapping_add(f) & mask64(m);
            a = b;
            b = c;
        }
        // After an even number of rounds A has u bits again and B v bits.
        (u128::from(a) << v) | u128::from(b)
    }

    /// A keyed permutation of `[0, n)` (cycle walking over the next power
    /// of two: the expected number of walks is below 2).
    pub fn permute_below(&self, tweak: u64, n: u128, x: u128) -> u128 {
        debug_assert!(x < n);
        if n <= 1 {
            return x;
        }
        let bits = 128 - (n - 1).leading_zeros();
        let mut y = self.permute_bits(tweak, bits, x);
        while y >= n {
            y = self.permute_bits(tweak, bits, y);
        }
        y
    }

    /// A keyed permutation of symbol strings: position `j` holds a symbol
    /// packed by [`pack`] (its radix in the high 16 bits, its value below
    /// the radix in the low 16), one `u32` per symbol so a long value costs
    /// 4 bytes a symbol. The string is split in halves A and B; each round
    /// adds, per position and modulo its radix, a keyed function of one half
    /// to the other, which can always be undone: a bijection for any
    /// radices and any length (a 1-symbol string is shifted by a keyed
    /// amount).
    pub fn permute_symbols(&self, tweak: u64, sym: &mut [u32]) {
        let n = sym.len();
        if n == 0 {
            return;
        }
        if n <= BYTE_SYMBOLS_MAX && sym.iter().all(|&p| p >> 16 < 256) {
            self.permute_byte_symbols(tweak, sym);
        } else {
            self.permute_coded(tweak, &Packed, sym);
        }
    }

    /// [`Prf::permute_symbols`] for any radices and lengths, over symbols
    /// stored in `code`'s form ([`Packed`], or one byte each with
    /// [`ByteSymbols`] for a long value): the same permutation, whatever
    /// the form.
    pub fn permute_coded<C: SymbolCode>(&self, tweak: u64, code: &C, sym: &mut [C::Sym]) {
        let n = sym.len();
        if n == 0 {
            return;
        }
        let u = n / 2;
        let rounds = symbol_rounds(code, sym);
        let mut prefix = Sip::new(self.k0, self.k1);
        prefix.compress(tweak);
        // The round and the length take the message's last 7 bytes rather
        // than a word of their own: one compression fewer a round.
        debug_assert!((n as u64) < 1 << 48);
        let tail = (n as u64) << 8;
        for i in 0..rounds {
            let (src, dst) = if i % 2 == 0 {
                (0..u, u..n)
            } else {
                (u..n, 0..u)
            };
            let seed = round_seed(code, &prefix, &sym[src], tail | i);
            let mut stream = SplitMix(seed);
            // Each SplitMix output covers two positions: its low 32 bits
            // the first, its high 32 bits the second.
            for pair in sym[dst].chunks_mut(2) {
                let z = stream.next();
                for (slot, r) in pair.iter_mut().zip([z as u32, (z >> 32) as u32]) {
                    let (value, radix) = code.unpack(*slot);
                    // Multiply-shift maps 32 random bits onto [0, radix);
                    // both terms are below the radix, so one subtraction
                    // reduces the sum (a division here would cost more than
                    // the PRF).
                    let add = ((u64::from(r) * u64::from(radix)) >> 32) as u32;
                    let sum = value + add;
                    *slot = code.with_value(*slot, if sum >= radix { sum - radix } else { sum });
                }
            }
        }
    }

    /// [`Prf::permute_symbols`] where every radix is at most 256 (digits,
    /// email tags, bytes), the common case: the symbols are unpacked once
    /// into a byte each and their radices, so a round hashes its source
    /// half as whole little-endian words (the 8-bit packing of
    /// [`round_seed`], read straight from memory) and adds without
    /// unpacking. The same function, only cheaper.
    fn permute_byte_symbols(&self, tweak: u64, sym: &mut [u32]) {
        let n = sym.len();
        let u = n / 2;
        let mut value = [0u8; BYTE_SYMBOLS_MAX];
        let mut radix = [0u16; BYTE_SYMBOLS_MAX];
        for ((v, r), &packed) in value.iter_mut().zip(radix.iter_mut()).zip(sym.iter()) {
            let (x, rx) = unpack(packed);
            (*v, *r) = (x as u8, rx as u16);
        }
        let (value, radix) = (&mut value[..n], &radix[..n]);
        let rounds = symbol_rounds(&Packed, sym);
        let mut prefix = Sip::new(self.k0, self.k1);
        prefix.compress(tweak);
        let tail = (n as u64) << 8;
        for i in 0..rounds {
            let (src, dst) = if i % 2 == 0 {
                (0..u, u..n)
            } else {
                (u..n, 0..u)
            };
            let mut stream = SplitMix(byte_round_seed(&prefix, &value[src], tail | i));
            let (value, radix) = (&mut value[dst.clone()], &radix[dst]);
            for (pair, radices) in value.chunks_mut(2).zip(radix.chunks(2)) {
                let z = stream.next();
                for ((slot, &radix), r) in pair
                    .iter_mut()
                    .zip(radices)
                    .zip([z as u32, (z >> 32) as u32])
                {
                    let radix = u32::from(radix);
                    let add = ((u64::from(r) * u64::from(radix)) >> 32) as u32;
                    let sum = u32::from(*slot) + add;
                    *slot = (if sum >= radix { sum - radix } else { sum }) as u8;
                }
            }
        }
        for ((packed, &v), &r) in sym.iter_mut().zip(value.iter()).zip(radix.iter()) {
            *packed = pack(u32::from(v), u32::from(r));
        }
    }
}

/// The stream a lossy transform draws from (fakes, `choice`, `noise`,
/// `random_int`, `random_numeric`): wyrand (Wang Yi, public domain) from a
/// 64-bit keyed seed, [`Prf::bytes_after`] of the value. Its quality is ample for picking words; its
/// secrecy comes from the seed, which is a PRF of the value.
pub struct Rng {
    state: u64,
}

impl Rng {
    /// The stream of `input` under `prf`.
    pub fn of(prf: &Prf, input: &[u8]) -> Rng {
        Rng {
            state: prf.bytes_after(TWEAK_DRAW, input),
        }
    }

    /// The stream of `input` in ASCII lower case (`Rng::of` of the
    /// lowered copy, without making one).
    pub fn of_lowercase(prf: &Prf, input: &[u8]) -> Rng {
        Rng {
            state: prf.bytes_after_lowercase(TWEAK_DRAW, input),
        }
    }

    pub fn word(&mut self) -> u64 {
        self.state = self.state.wrapping_add(0xa076_1d64_78bd_642f);
        let t = u128::from(self.state) * u128::from(self.state ^ 0xe703_7ed1_a0b4_28db);
        ((t >> 64) as u64) ^ (t as u64)
    }

    /// A uniform index below `n` (Lemire's multiply-shift: bias below
    /// n / 2^64, none that a word list could show).
    pub fn below(&mut self, n: usize) -> usize {
        ((u128::from(self.word()) * n as u128) >> 64) as usize
    }

    /// One item of a non-empty list.
    pub fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len())]
    }
}

/// Keeps the seeds apart from every other use of the namespace's PRF.
const TWEAK_DRAW: u64 = 0x6472_6177;

/// So the fake crate's generic fakers and `rand`'s helpers can draw from it.
impl rand_core::TryRng for Rng {
    type Error = std::convert::Infallible;

    fn try_next_u32(&mut self) -> Result<u32, Self::Error> {
        Ok((self.word() >> 32) as u32)
    }

    fn try_next_u64(&mut self) -> Result<u64, Self::Error> {
        Ok(self.word())
    }

    fn try_fill_bytes(&mut self, dst: &mut [u8]) -> Result<(), Self::Error> {
        for chunk in dst.chunks_mut(8) {
            let bytes = self.word().to_le_bytes();
            chunk.copy_from_slice(&bytes[..chunk.len()]);
        }
        Ok(())
    }
}

/// The round function of [`Prf::permute_symbols`]: SipHash of [tweak,
/// source half, round and length] (`prefix` has absorbed the tweak once
/// for all rounds; the round and length ride in the message's last 7
/// bytes, `tail`), the half packed 8 bits per symbol, or 16 where the
/// radix needs it (the radices are fixed by the tweak, so the packing is
/// injective). Its output seeds SplitMix64, stretched over the other half.
///
/// A half packed in at most [`SHORT_HALF_BITS`] bits (a phone number's 5
/// digits), with the round and the length in a byte each, rides in the
/// last word's free bytes above them instead of a word of its own: one
/// compression of two a round, and still one message per (round, length,
/// half). Such a message is two words long where the long form is three
/// or more, so the two forms never meet (an empty half is the same
/// message in both).
#[inline]
fn round_seed<C: SymbolCode>(code: &C, prefix: &Sip, half: &[C::Sym], tail: u64) -> u64 {
    let mut h = prefix.clone();
    let mut count = 1;
    let (mut acc, mut bits) = (0u64, 0u32);
    for &sym in half {
        let (value, radix) = code.unpack(sym);
        let width = if radix <= 256 { 8 } else { 16 };
        if bits + width > 64 {
            h.compress(acc);
            count += 1;
            (acc, bits) = (0, 0);
        }
        acc |= u64::from(value) << bits;
        bits += width;
    }
    if count == 1 && bits <= SHORT_HALF_BITS && tail >> 16 == 0 {
        return h.finish(tail | acc << 16, 15);
    }
    if bits > 0 {
        h.compress(acc);
        count += 1;
    }
    h.finish(tail, count * 8 + 7)
}

/// See [`round_seed`]: the 5 bytes left in the last word beside the round
/// and the length.
const SHORT_HALF_BITS: u32 = 40;

/// The longest symbol string [`Prf::permute_byte_symbols`] holds on the
/// stack; longer ones take the general path.
const BYTE_SYMBOLS_MAX: usize = 128;

/// [`round_seed`] of a half whose radices are all at most 256: its bytes
/// are the 8-bit packing, read a word at a time.
#[inline]
fn byte_round_seed(prefix: &Sip, half: &[u8], tail: u64) -> u64 {
    if half.len() * 8 <= SHORT_HALF_BITS as usize && tail >> 16 == 0 {
        let mut last = [0u8; 8];
        last[..half.len()].copy_from_slice(half);
        return prefix
            .clone()
            .finish(tail | u64::from_le_bytes(last) << 16, 15);
    }
    let mut h = prefix.clone();
    let mut words = half.chunks_exact(8);
    for w in &mut words {
        h.compress(u64::from_le_bytes(w.try_into().expect("8 bytes")));
    }
    let mut count = 1 + half.len() / 8;
    let rest = words.remainder();
    if !rest.is_empty() {
        let mut last = [0u8; 8];
        last[..rest.len()].copy_from_slice(rest);
        h.compress(u64::from_le_bytes(last));
        count += 1;
    }
    h.finish(tail, count * 8 + 7)
}

/// The rounds [`Prf::permute_symbols`] runs over `sym`: [`LARGE_HALF_ROUNDS`]
/// when both halves hold at least 2^[`LARGE_HALF_BITS`] values (each radix
/// counted by its whole bits, which only undercounts), else [`ROUNDS`]. It
/// depends on the radices alone, which the rounds never change, so the
/// inverse runs as many.
fn symbol_rounds<C: SymbolCode>(code: &C, sym: &[C::Sym]) -> u64 {
    let half_bits = |half: &[C::Sym]| -> u32 {
        half.iter()
            .map(|&sym| code.unpack(sym).1.ilog2())
            .sum::<u32>()
    };
    let u = sym.len() / 2;
    if half_bits(&sym[..u]).min(half_bits(&sym[u..])) >= LARGE_HALF_BITS {
        LARGE_HALF_ROUNDS
    } else {
        ROUNDS
    }
}

/// One symbol for [`Prf::permute_symbols`]: `value < radix <= 65536`.
#[inline]
pub fn pack(value: u32, radix: u32) -> u32 {
    debug_assert!(value < radix && radix <= 0x1_0000);
    ((radix - 1) << 16) | value
}

/// `(value, radix)` of a packed symbol.
#[inline]
pub fn unpack(packed: u32) -> (u32, u32) {
    (packed & 0xffff, (packed >> 16) + 1)
}

/// How [`Prf::permute_coded`] reads and writes its symbols: each is a
/// value below its radix, and the rounds change the value, never the
/// radix.
pub trait SymbolCode {
    type Sym: Copy;
    /// The symbol of `value` (below `radix`), or `None` when this form
    /// cannot hold it.
    fn encode(&mut self, value: u32, radix: u32) -> Option<Self::Sym>;
    /// `(value, radix)` of a symbol.
    fn unpack(&self, sym: Self::Sym) -> (u32, u32);
    /// `sym` holding `value` instead (below its radix).
    fn with_value(&self, sym: Self::Sym, value: u32) -> Self::Sym;
}

/// Symbols [`pack`]ed in a `u32` each: any radix up to 65536.
pub struct Packed;

impl SymbolCode for Packed {
    type Sym = u32;

    #[inline]
    fn encode(&mut self, value: u32, radix: u32) -> Option<u32> {
        Some(pack(value, radix))
    }

    #[inline]
    fn unpack(&self, sym: u32) -> (u32, u32) {
        unpack(sym)
    }

    #[inline]
    fn with_value(&self, sym: u32, value: u32) -> u32 {
        (sym & !0xffff) | value
    }
}

/// Symbols of one byte each, for a value whose distinct radices add up to
/// 256 or less (ASCII letters and digits take 36 codes): each radix seen
/// gets a run of codes, one per value, in the order it is first seen. A
/// long value then costs a byte per symbol rather than four.
pub struct ByteSymbols {
    /// The [`pack`]ed symbol of each code.
    packed: [u32; 256],
    /// The first code of each radix (`u16::MAX`: none yet).
    first: [u16; 257],
    /// Codes given out.
    used: u16,
}

impl ByteSymbols {
    pub fn new() -> ByteSymbols {
        ByteSymbols {
            packed: [0; 256],
            first: [u16::MAX; 257],
            used: 0,
        }
    }
}

impl Default for ByteSymbols {
    fn default() -> Self {
        ByteSymbols::new()
    }
}

impl SymbolCode for ByteSymbols {
    type Sym = u8;

    /// `None` when the radix is new and its codes no longer fit in a byte.
    #[inline]
    fn encode(&mut self, value: u32, radix: u32) -> Option<u8> {
        let slot = self.first.get_mut(radix as usize)?;
        if *slot == u16::MAX {
            if usize::from(self.used) + radix as usize > 256 {
                return None;
            }
            *slot = self.used;
            for v in 0..radix {
                self.packed[usize::from(self.used) + v as usize] = pack(v, radix);
            }
            self.used += radix as u16;
        }
        Some((u32::from(*slot) + value) as u8)
    }

    #[inline]
    fn unpack(&self, sym: u8) -> (u32, u32) {
        unpack(self.packed[usize::from(sym)])
    }

    #[inline]
    fn with_value(&self, sym: u8, value: u32) -> u8 {
        // A radix's codes are consecutive from the code of value 0.
        (u32::from(sym) - (self.packed[usize::from(sym)] & 0xffff) + value) as u8
    }
}

fn mask64(bits: u32) -> u64 {
    if bits >= 64 {
        u64::MAX
    } else {
        (1u64 << bits) - 1
    }
}

fn mask128(bits: u32) -> u128 {
    if bits >= 128 {
        u128::MAX
    } else {
        (1u128 << bits) - 1
    }
}

/// SplitMix64: stretches one PRF output over many positions.
struct SplitMix(u64);

impl SplitMix {
    #[inline]
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
}

/// SipHash-2-4 state (Aumasson & Bernstein), written out so its output can
/// never change under us.
#[derive(Clone)]
struct Sip {
    v: [u64; 4],
}

impl Sip {
    #[inline]
    fn new(k0: u64, k1: u64) -> Sip {
        Sip {
            v: [
                k0 ^ 0x736f_6d65_7073_6575,
                k1 ^ 0x646f_7261_6e64_6f6d,
                k0 ^ 0x6c79_6765_6e65_7261,
                k1 ^ 0x7465_6462_7974_6573,
            ],
        }
    }

    #[inline]
    fn round(&mut self) {
        let v = &mut self.v;
        v[0] = v[0].wrapping_add(v[1]);
        v[1] = v[1].rotate_left(13) ^ v[0];
        v[0] = v[0].rotate_left(32);
        v[2] = v[2].wrapping_add(v[3]);
        v[3] = v[3].rotate_left(16) ^ v[2];
        v[0] = v[0].wrapping_add(v[3]);
        v[3] = v[3].rotate_left(21) ^ v[0];
        v[2] = v[2].wrapping_add(v[1]);
        v[1] = v[1].rotate_left(17) ^ v[2];
        v[2] = v[2].rotate_left(32);
    }

    #[inline]
    fn compress(&mut self, m: u64) {
        self.v[3] ^= m;
        self.round();
        self.round();
        self.v[0] ^= m;
    }

    #[inline]
    fn finish(mut self, tail: u64, len: usize) -> u64 {
        let b = ((len as u64 & 0xff) << 56) | tail;
        self.compress(b);
        self.v[2] ^= 0xff;
        for _ in 0..4 {
            self.round();
        }
        self.v[0] ^ self.v[1] ^ self.v[2] ^ self.v[3]
    }
}

/// What a character becomes under [`TextCipher`]: a symbol of a class, or
/// itself (punctuation, spaces, combining marks, emoji).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Symbol {
    /// Class id: part of the tweak, so the class pattern is kept.
    class: u32,
    radix: u32,
    value: u32,
    /// Letters are encrypted as their lower case, with the case kept
    /// aside, so case-insensitively different inputs stay
    /// case-insensitively different (a unique index on `lower(email)`
    /// holds) in every script with case, not only ASCII.
    upper: bool,
}

const CLASS_ASCII_LETTER: u32 = 0;
const CLASS_ASCII_DIGIT: u32 = 1;
const CLASS_CJK: u32 = 4;
const CLASS_HANGUL: u32 = 5;
/// A byte above 0x7f of text that is not UTF-8 (SQL_ASCII databases).
const CLASS_HIGH_BYTE: u32 = 6;
/// Other code points: the aligned block of 128 holding them, minus the
/// ranges kept as they are; the class id is this plus the block number.
/// Within a block, letters with case (`Ж`/`ж`, `É`/`é`) are classes of
/// their own, numbered `CLASS_CASED_BLOCK + block * 8 + group`, holding
/// each lower-case letter once; caseless characters (most scripts) keep
/// `CLASS_BLOCK + block`.
const CLASS_BLOCK: u32 = 32;
const CLASS_CASED_BLOCK: u32 = 0x1_0000;

/// Cased letters of one block drawn apart so names stay readable: modern
/// Cyrillic а-я, then ѐ-џ, then the historic letters; Greek α-ω, then the
/// rest. Other blocks are one group.
fn cased_group(l: u32) -> usize {
    match l {
        0x430..=0x44f | 0x3b1..=0x3c9 => 0,
        0x450..=0x45f => 1,
        // The rest of the Greek and Cyrillic blocks.
        0x380..=0x47f => 2,
        _ => 0,
    }
}

/// Code points kept as they are: punctuation, symbols, combining marks and
/// emoji carry no identity, and mapping them would make unreadable text.
fn is_kept(cp: u32) -> bool {
    matches!(cp,
        0x300..=0x36f | 0x2000..=0x2bff | 0x3000..=0x303f | 0xfe00..=0xfe0f
        | 0xfff0..=0xffff | 0x1f000..=0x1faff)
}

/// Whether a code point above ASCII is encrypted through the block tables:
/// not kept, and in Latin-1 only the letters (its symbols stay).
fn in_blocks(cp: u32) -> bool {
    match cp {
        0..=0x7f => false,
        0x80..=0xff => cp >= 0xc0 && cp != 0xd7 && cp != 0xf7,
        _ => !is_kept(cp),
    }
}

/// The one character `c` maps to under `f`, if it is one.
fn single(mut it: impl Iterator<Item = char>) -> Option<char> {
    match (it.next(), it.next()) {
        (Some(c), None) => Some(c),
        _ => None,
    }
}

/// The upper case of the lower-case letter `l`, when the two map to each
/// other one to one (`é` ↔ `É`, `ÿ` ↔ `Ÿ`): what PostgreSQL's `lower()`
/// undoes. Letters whose case does not round-trip (`ß`, `ǅ`) have none.
fn upper_of(l: char) -> Option<char> {
    let u = single(l.to_uppercase())?;
    (u != l && single(u.to_lowercase()) == Some(l)).then_some(u)
}

/// `c` as a lower-case letter and whether it was upper case, for the
/// letters `upper_of` pairs; anything else is itself, not upper.
fn fold(c: char) -> (char, bool) {
    if let Some(l) = single(c.to_lowercase()) {
        if l != c && in_blocks(l as u32) && upper_of(l) == Some(c) {
            return (l, true);
        }
    }
    (c, false)
}

/// The symbols of one block of 128 code points: its lower-case letters
/// with case, and its caseless characters, each in code point order, with
/// every member's index in its class. Upper-case letters are not members:
/// they are their lower case with `upper` set.
struct BlockTable {
    /// Lower-case letters with case, by `cased_group`.
    cased: [Vec<u32>; 3],
    caseless: Vec<u32>,
    /// `(group, index)` by offset in the block, group `None` for
    /// caseless; `None` for non-members.
    index: [Option<(Option<usize>, u32)>; 128],
}

impl BlockTable {
    fn new(block: u32) -> BlockTable {
        let mut t = BlockTable {
            cased: Default::default(),
            caseless: Vec::new(),
            index: [None; 128],
        };
        for cp in block << 7..(block + 1) << 7 {
            let Some(c) = char::from_u32(cp).filter(|_| in_blocks(cp)) else {
                continue;
            };
            if fold(c).1 {
                continue;
            }
            let group = upper_of(c).map(|_| cased_group(cp));
            let list = match group {
                Some(g) => &mut t.cased[g],
                None => &mut t.caseless,
            };
            t.index[(cp & 0x7f) as usize] = Some((group, list.len() as u32));
            list.push(cp);
        }
        t
    }

    /// The table of `block`, built once per thread.
    fn with<R>(block: u32, f: impl FnOnce(&BlockTable) -> R) -> R {
        thread_local! {
            static TABLES: std::cell::RefCell<std::collections::HashMap<u32, std::rc::Rc<BlockTable>>> =
                Default::default();
        }
        let t = TABLES.with(|m| {
            m.borrow_mut()
                .entry(block)
                .or_insert_with(|| std::rc::Rc::new(BlockTable::new(block)))
                .clone()
        });
        f(&t)
    }
}

fn classify(c: char) -> Option<Symbol> {
    let cp = c as u32;
    let s = |class, radix, value| {
        Some(Symbol {
            class,
            radix,
            value,
            upper: false,
        })
    };
    match cp {
        0x61..=0x7a => s(CLASS_ASCII_LETTER, 26, cp - 0x61),
        0x41..=0x5a => Some(Symbol {
            class: CLASS_ASCII_LETTER,
            radix: 26,
            value: cp - 0x41,
            upper: true,
        }),
        0x30..=0x39 => s(CLASS_ASCII_DIGIT, 10, cp - 0x30),
        0x4e00..=0x9fff => s(CLASS_CJK, 0x5200, cp - 0x4e00),
        0xac00..=0xd7ff => s(CLASS_HANGUL, 0x2c00, cp - 0xac00),
        _ if !in_blocks(cp) => None,
        _ => {
            let (l, upper) = fold(c);
            let block = l as u32 >> 7;
            BlockTable::with(block, |t| {
                let (group, value) = t.index[(l as u32 & 0x7f) as usize]?;
                let (class, radix) = match group {
                    Some(g) => (CLASS_CASED_BLOCK + block * 8 + g as u32, t.cased[g].len()),
                    None => (CLASS_BLOCK + block, t.caseless.len()),
                };
                Some(Symbol {
                    class,
                    radix: radix as u32,
                    value,
                    upper,
                })
            })
        }
    }
}

fn unclassify(s: Symbol) -> char {
    let cp = match s.class {
        CLASS_ASCII_LETTER => s.value + if s.upper { 0x41 } else { 0x61 },
        CLASS_ASCII_DIGIT => s.value + 0x30,
        CLASS_CJK => s.value + 0x4e00,
        CLASS_HANGUL => s.value + 0xac00,
        c if c >= CLASS_CASED_BLOCK => {
            let (block, group) = ((c - CLASS_CASED_BLOCK) / 8, (c - CLASS_CASED_BLOCK) % 8);
            let l = BlockTable::with(block, |t| t.cased[group as usize][s.value as usize]);
            let l = char::from_u32(l).expect("table members are chars");
            return if s.upper {
                upper_of(l).expect("cased members have an upper case")
            } else {
                l
            };
        }
        c => BlockTable::with(c - CLASS_BLOCK, |t| t.caseless[s.value as usize]),
    };
    // Every class holds valid scalar values (tables are built from chars).
    char::from_u32(cp).expect("symbol classes hold valid scalar values")
}

/// One unit of the input: a symbol to encrypt, or a character (or, for
/// non-UTF-8 text, a byte) kept as it is.
#[derive(Clone, Copy)]
enum Unit {
    Symbol(Symbol),
    Kept(u32),
}

/// The symbol class of a byte of text that is not UTF-8 (a SQL_ASCII
/// database): high bytes are one more class, so no byte leaks either.
fn classify_byte(b: u8) -> Option<Symbol> {
    if b >= 0x80 {
        Some(Symbol {
            class: CLASS_HIGH_BYTE,
            radix: 128,
            value: u32::from(b - 0x80),
            upper: false,
        })
    } else {
        classify(b as char)
    }
}

/// The units of `input`, in order: its characters when it is UTF-8
/// (`text`), else its bytes. Position `i` is a symbol unless `keep(i)` or
/// it has no class. Computed twice per value (to encrypt, then to write)
/// rather than stored, so a long value costs no more than its symbols.
fn units<'a>(
    input: &'a [u8],
    text: Option<&'a str>,
    keep: &'a dyn Fn(usize) -> bool,
) -> impl Iterator<Item = Unit> + 'a {
    let chars = text
        .into_iter()
        .flat_map(|t| t.chars().map(|c| (c as u32, classify(c))));
    let bytes = if text.is_some() { &[][..] } else { input }
        .iter()
        .map(|&b| (u32::from(b), classify_byte(b)));
    chars
        .chain(bytes)
        .enumerate()
        .map(move |(i, (raw, class))| match class {
            Some(s) if !keep(i) => Unit::Symbol(s),
            _ => Unit::Kept(raw),
        })
}

/// Format-preserving encryption of text: every letter becomes a letter of
/// the same class (ASCII case kept), every digit a digit, and everything
/// else stays in place. The class pattern and the kept characters form the
/// tweak, so the map is a bijection on each pattern and therefore on all
/// strings.
#[derive(Clone, Copy, Debug)]
pub struct TextCipher {
    prf: Prf,
    /// Hashes shapes into tweaks; its own key, so a shape hash is never a
    /// round function value.
    shape_prf: Prf,
}

/// Values of this many bytes or more are encrypted with a byte per
/// symbol ([`ByteSymbols`]) where their classes allow it.
const BYTE_SYMBOLS_FROM: usize = 4096;

/// Above this many symbols a worker's buffer is freed after use, so one
/// huge value does not pin its memory for the rest of the run.
const SCRATCH_KEEP: usize = 1 << 18;

thread_local! {
    /// The packed symbols of the value being encrypted, reused value after
    /// value per worker thread.
    static SCRATCH: std::cell::RefCell<Vec<u32>> = const { std::cell::RefCell::new(Vec::new()) };
}

/// Runs `f` with this worker's symbol buffer, emptied (for a value's
/// packed symbols, with no allocation per value).
pub fn with_symbols<R>(f: impl FnOnce(&mut Vec<u32>) -> R) -> R {
    SCRATCH.with(|cell| {
        let mut sym = cell.borrow_mut();
        sym.clear();
        let result = f(&mut sym);
        if sym.capacity() > SCRATCH_KEEP {
            *sym = Vec::new();
        }
        result
    })
}

impl TextCipher {
    pub fn new(prf: Prf) -> TextCipher {
        let shape_prf = Prf::from_keys(prf.k0 ^ 0x0053_4841_5045, prf.k1);
        TextCipher { prf, shape_prf }
    }

    /// Encrypts `input` into `out` keeping its first `first` and last
    /// `last` units (characters, or bytes when it is not UTF-8) as they
    /// are. When those cover every letter and digit, one is encrypted
    /// anyway so the value never comes out whole (as `mask` does): the last
    /// one inside the first `first` units, else the first one. Which one
    /// depends only on the length and on where the letters and digits are,
    /// which the output shares, so the map stays a bijection.
    pub fn encrypt_keeping(
        &self,
        tweak: u64,
        input: &[u8],
        first: usize,
        last: usize,
        out: &mut Vec<u8>,
    ) {
        let text = std::str::from_utf8(input).ok();
        let n = text.map_or(input.len(), |t| t.chars().count());
        let window = |i: usize| i < first || i + last >= n;
        let mut forced = None;
        if first > 0 || last > 0 {
            let (mut first_symbol, mut last_in_first) = (None, None);
            for (i, u) in units(input, text, &|_| false).enumerate() {
                if let Unit::Symbol(_) = u {
                    if !window(i) {
                        first_symbol = None;
                        last_in_first = None;
                        break;
                    }
                    first_symbol = first_symbol.or(Some(i));
                    if i < first {
                        last_in_first = Some(i);
                    }
                }
            }
            forced = last_in_first.or(first_symbol);
        }
        self.encrypt(tweak, input, &|i| window(i) && Some(i) != forced, out);
    }

    /// Encrypts `input` into `out`. Units `i` for which `keep(i)` is true
    /// stay as they are (and join the tweak), as do characters without a
    /// class. `tweak` separates independent uses (an email's local part is
    /// encrypted under its domain).
    ///
    /// Memory: one byte per symbol besides `input` and `out` for a long
    /// value whose classes fit [`ByteSymbols`] (four for other values; the
    /// shape is hashed as it is read, and the units are classified again to
    /// write).
    pub fn encrypt(
        &self,
        tweak: u64,
        input: &[u8],
        keep: &dyn Fn(usize) -> bool,
        out: &mut Vec<u8>,
    ) {
        let text = std::str::from_utf8(input).ok();
        // A short value keeps the worker's reused packed buffer: setting
        // up the byte codes would cost more than the value saves.
        if input.len() >= BYTE_SYMBOLS_FROM {
            let mut sym = Vec::with_capacity(input.len());
            let value = (input, text, keep);
            if self.encrypt_in(&mut ByteSymbols::new(), &mut sym, tweak, value, out) {
                return;
            }
        }
        with_symbols(|sym| {
            let fits = self.encrypt_in(&mut Packed, sym, tweak, (input, text, keep), out);
            debug_assert!(fits, "a packed u32 holds every radix");
        })
    }

    /// `encrypt` with the symbols in `code`'s form, in `sym` (empty);
    /// `false`, with `out` untouched, when a symbol does not fit that form.
    fn encrypt_in<C: SymbolCode>(
        &self,
        code: &mut C,
        sym: &mut Vec<C::Sym>,
        tweak: u64,
        (input, text, keep): (&[u8], Option<&str>, &dyn Fn(usize) -> bool),
        out: &mut Vec<u8>,
    ) -> bool {
        // The tweak: the caller's, then the shape (class per symbol,
        // the character itself when kept), ASCII case excluded, in a
        // prefix-free byte code where the common units take one byte:
        // a kept ASCII character is itself, an ASCII letter 0x80, an
        // ASCII digit 0x81, any other class 0x82 and its id, any other
        // kept character 0x83 and its code point.
        let mut shape = SipBytes::after(&self.shape_prf, tweak);
        for u in units(input, text, keep) {
            match u {
                Unit::Symbol(s) => {
                    let Some(packed) = code.encode(s.value, s.radix) else {
                        return false;
                    };
                    sym.push(packed);
                    match s.class {
                        CLASS_ASCII_LETTER => shape.push(0x80),
                        CLASS_ASCII_DIGIT => shape.push(0x81),
                        c => {
                            shape.push(0x82);
                            shape.extend(&c.to_le_bytes());
                        }
                    }
                }
                Unit::Kept(c) if c < 0x80 => shape.push(c as u8),
                Unit::Kept(c) => {
                    shape.push(0x83);
                    shape.extend(&c.to_le_bytes());
                }
            }
        }
        let only = (sym.len() == 1).then(|| code.unpack(sym[0]));
        self.prf.permute_coded(shape.finish(), code, sym);
        // One symbol is shifted by an amount that depends on the tweak
        // alone; where that amount is 0 every such value would come out
        // whole, so shift by 1 instead: still a bijection, never a
        // fixed point.
        if let Some((value, radix)) = only {
            if code.unpack(sym[0]).0 == value && radix > 1 {
                sym[0] = code.with_value(sym[0], (value + 1) % radix);
            }
        }
        let mut next = sym.iter();
        let mut buf = [0u8; 4];
        for u in units(input, text, keep) {
            match u {
                Unit::Symbol(s) => {
                    let (value, _) = code.unpack(*next.next().expect("one value per symbol"));
                    if text.is_some() {
                        let c = unclassify(Symbol { value, ..s });
                        out.extend_from_slice(c.encode_utf8(&mut buf).as_bytes());
                    } else if s.class == CLASS_HIGH_BYTE {
                        out.push(value as u8 + 0x80);
                    } else {
                        out.push(unclassify(Symbol { value, ..s }) as u8);
                    }
                }
                Unit::Kept(c) if text.is_some() => {
                    let c = char::from_u32(c).expect("kept from a char");
                    out.extend_from_slice(c.encode_utf8(&mut buf).as_bytes());
                }
                Unit::Kept(b) => out.push(b as u8),
            }
        }
        true
    }
}

/// SipHash-2-4 of `first` (little-endian) followed by bytes pushed one at a
/// time: the same value as [`Prf::bytes_after`] over the whole byte string,
/// without holding it.
struct SipBytes {
    sip: Sip,
    word: u64,
    filled: u32,
    len: usize,
}

impl SipBytes {
    fn after(prf: &Prf, first: u64) -> SipBytes {
        let mut sip = Sip::new(prf.k0, prf.k1);
        sip.compress(first);
        SipBytes {
            sip,
            word: 0,
            filled: 0,
            len: 8,
        }
    }

    #[inline]
    fn push(&mut self, b: u8) {
        self.word |= u64::from(b) << (8 * self.filled);
        self.filled += 1;
        self.len += 1;
        if self.filled == 8 {
            self.sip.compress(self.word);
            self.word = 0;
            self.filled = 0;
        }
    }

    fn extend(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.push(b);
        }
    }

    fn finish(self) -> u64 {
        self.sip.finish(self.word, self.len)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    #[test]
    fn siphash_matches_the_reference_vectors() {
        // From the SipHash paper, appendix A: key 00..0f, message 00..0e.
        let k0 = u64::from_le_bytes([0, 1, 2, 3, 4, 5, 6, 7]);
        let k1 = u64::from_le_bytes([8, 9, 10, 11, 12, 13, 14, 15]);
        let prf = Prf::from_keys(k0, k1);
        let msg: Vec<u8> = (0..15).collect();
        assert_eq!(prf.bytes(&msg), 0xa129_ca61_49be_45e5);
        assert_eq!(prf.bytes(b""), 0x726f_db47_dd0e_0e31);
        // `words` is the same function on whole words.
        let msg16: Vec<u8> = (0..16).collect();
        let w = [
            u64::from_le_bytes(msg16[0..8].try_into().unwrap()),
            u64::from_le_bytes(msg16[8..16].try_into().unwrap()),
        ];
        assert_eq!(prf.words(&w), prf.bytes(&msg16));
    }

    fn prf() -> Prf {
        Prf::derive(&Key::new(b"test secret"), b"keyed tests")
    }

    #[test]
    fn bit_permutations_are_bijections() {
        let p = prf();
        for bits in [1, 2, 3, 7, 8, 12] {
            let n = 1u128 << bits;
            let out: HashSet<u128> = (0..n).map(|x| p.permute_bits(9, bits, x)).collect();
            assert_eq!(out.len() as u128, n, "bits {bits}");
            assert!(out.iter().all(|&y| y < n));
        }
        for n in [1u128, 2, 3, 10, 1000, 4097] {
            let out: HashSet<u128> = (0..n).map(|x| p.permute_below(1, n, x)).collect();
            assert_eq!(out.len() as u128, n, "n {n}");
            assert!(out.iter().all(|&y| y < n));
        }
    }

    #[test]
    fn symbol_permutations_are_bijections() {
        let p = prf();
        // Every string of 4 symbols with mixed radices.
        let radix = [3u32, 10, 2, 5];
        let mut seen = HashSet::new();
        for a in 0..3 {
            for b in 0..10 {
                for c in 0..2 {
                    for d in 0..5 {
                        let mut s: Vec<u32> = [a, b, c, d]
                            .iter()
                            .zip(radix)
                            .map(|(&v, r)| pack(v, r))
                            .collect();
                        p.permute_symbols(42, &mut s);
                        let values: Vec<u32> = s.iter().map(|&x| unpack(x).0).collect();
                        assert!(s
                            .iter()
                            .zip(radix)
                            .all(|(&x, r)| unpack(x).1 == r && unpack(x).0 < r));
                        seen.insert(values);
                    }
                }
            }
        }
        assert_eq!(seen.len(), 300);
        // One symbol: still a bijection.
        let one: HashSet<u32> = (0..26)
            .map(|v| {
                let mut s = [pack(v, 26)];
                p.permute_symbols(7, &mut s);
                s[0]
            })
            .collect();
        assert_eq!(one.len(), 26);
    }

    /// The inverse of [`Prf::permute_symbols`]: the rounds undone in
    /// reverse, subtracting what they added.
    fn unpermute_symbols(p: &Prf, tweak: u64, sym: &mut [u32]) {
        let n = sym.len();
        let u = n / 2;
        let mut prefix = Sip::new(p.k0, p.k1);
        prefix.compress(tweak);
        for i in (0..symbol_rounds(&Packed, sym)).rev() {
            let (src, dst) = if i % 2 == 0 {
                (0..u, u..n)
            } else {
                (u..n, 0..u)
            };
            let mut stream = SplitMix(round_seed(
                &Packed,
                &prefix,
                &sym[src],
                ((n as u64) << 8) | i,
            ));
            for pair in sym[dst].chunks_mut(2) {
                let z = stream.next();
                for (slot, r) in pair.iter_mut().zip([z as u32, (z >> 32) as u32]) {
                    let (value, radix) = unpack(*slot);
                    let add = ((u64::from(r) * u64::from(radix)) >> 32) as u32;
                    *slot = pack((value + radix - add) % radix, radix);
                }
            }
        }
    }

    #[test]
    fn large_halves_take_fewer_rounds_and_still_invert() {
        // 20 symbols of radix 37 (an email tag): halves of 10 * 5 = 50
        // counted bits, so 6 rounds; 14 of them (7 * 5 = 35) keep 10.
        let tag = |len: usize, seed: u64| -> Vec<u32> {
            let mut mix = SplitMix(seed);
            (0..len)
                .map(|_| pack((mix.next() % 37) as u32, 37))
                .collect()
        };
        assert_eq!(symbol_rounds(&Packed, &tag(20, 1)), LARGE_HALF_ROUNDS);
        assert_eq!(symbol_rounds(&Packed, &tag(14, 1)), ROUNDS);
        // Mixed radices, 16-bit ones among them, odd and even lengths,
        // both round counts: the inverse gives every input back, and
        // inputs differing in one symbol differ after.
        let p = prf();
        let (mut inputs, mut outputs) = (HashSet::new(), HashSet::new());
        for (k, len) in [1usize, 2, 3, 14, 20, 21, 40, 64].into_iter().enumerate() {
            for seed in 0..200u64 {
                let mut mix = SplitMix(seed ^ ((k as u64) << 32));
                let input: Vec<u32> = (0..len)
                    .map(|j| {
                        let radix = [37u32, 10, 26, 256, 60_000][j % 5];
                        pack((mix.next() % u64::from(radix)) as u32, radix)
                    })
                    .collect();
                if !inputs.insert(input.clone()) {
                    continue;
                }
                let mut s = input.clone();
                p.permute_symbols(9, &mut s);
                assert!(outputs.insert(s.clone()), "a collision at length {len}");
                unpermute_symbols(&p, 9, &mut s);
                assert_eq!(s, input, "length {len}, seed {seed}");
            }
        }
    }

    /// The byte path is an optimisation of the general one, never another
    /// function: every length up to its limit, radices from 2 to 256.
    #[test]
    fn byte_symbols_take_a_faster_path_to_the_same_output() {
        let p = prf();
        for len in 1..=BYTE_SYMBOLS_MAX {
            for seed in 0..20u64 {
                let mut mix = SplitMix(seed ^ ((len as u64) << 32));
                let input: Vec<u32> = (0..len)
                    .map(|j| {
                        let radix = [41u32, 10, 256, 2, 67, 7][(j + seed as usize) % 6];
                        pack((mix.next() % u64::from(radix)) as u32, radix)
                    })
                    .collect();
                let (mut fast, mut general) = (input.clone(), input.clone());
                p.permute_byte_symbols(seed, &mut fast);
                p.permute_coded(seed, &Packed, &mut general);
                assert_eq!(fast, general, "length {len}, seed {seed}");
            }
        }
    }

    #[test]
    fn long_symbol_strings_use_every_position() {
        // Halves longer than the gathering buffer still depend on all symbols.
        let p = prf();
        let a = vec![pack(0, 10); 200];
        let mut b = a.clone();
        b[0] = pack(1, 10);
        let (mut x, mut y) = (a.clone(), b.clone());
        p.permute_symbols(0, &mut x);
        p.permute_symbols(0, &mut y);
        assert_ne!(x[150..], y[150..]);
    }

    #[test]
    fn lowercase_hash_matches_the_lowered_copy() {
        let p = prf();
        for len in [0usize, 1, 7, 8, 9, 16, 17, 40] {
            let bytes: Vec<u8> = (0..len).map(|i| b"Ab@Z9.q\xc3\x89"[i % 9]).collect();
            assert_eq!(
                p.bytes_after_lowercase(5, &bytes),
                p.bytes_after(5, &bytes.to_ascii_lowercase()),
                "len {len}"
            );
        }
    }

    #[test]
    fn streamed_shape_hash_matches_the_whole_string() {
        let p = prf();
        for len in [0usize, 1, 7, 8, 9, 16, 255, 256, 1000] {
            let bytes: Vec<u8> = (0..len).map(|i| (i * 37 % 251) as u8).collect();
            let mut h = SipBytes::after(&p, 99);
            h.extend(&bytes);
            assert_eq!(h.finish(), p.bytes_after(99, &bytes), "len {len}");
        }
    }

    fn enc(c: &TextCipher, s: &str) -> String {
        let mut out = Vec::new();
        c.encrypt(0, s.as_bytes(), &|_| false, &mut out);
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn text_keeps_its_shape() {
        let c = TextCipher::new(prf());
        let out = enc(&c, "John.Smith-42 Zoë Łukasz 田中 Мария 🎉!");
        let (a, b): (Vec<char>, Vec<char>) = (
            "John.Smith-42 Zoë Łukasz 田中 Мария 🎉!".chars(),
            out.chars(),
        )
            .into_iter_pair();
        assert_eq!(a.len(), b.len());
        for (x, y) in a.iter().zip(&b) {
            assert_eq!(x.is_ascii_uppercase(), y.is_ascii_uppercase(), "{out}");
            assert_eq!(x.is_ascii_lowercase(), y.is_ascii_lowercase(), "{out}");
            assert_eq!(x.is_ascii_digit(), y.is_ascii_digit(), "{out}");
            if !x.is_alphanumeric() {
                assert_eq!(x, y, "{out}");
            } else {
                assert!(y.is_alphanumeric() || (*y as u32) > 0x7f, "{out}");
            }
        }
        assert_ne!(out, "John.Smith-42 Zoë Łukasz 田中 Мария 🎉!");
        // Golden: pins the construction.
        assert_eq!(out, "Hmxf.Fbsua-64 Cdë Ĉxakan 杖軁 Кнбвр 🎉!");
    }

    /// A long value is encrypted with a byte per symbol where its classes
    /// fit one (ASCII, Latin, Cyrillic): the same output as packed
    /// symbols. Where they do not (CJK's radix alone is above 256), the
    /// byte form refuses before writing and `encrypt` falls back to the
    /// packed one.
    #[test]
    fn byte_symbols_give_the_packed_output() {
        let c = TextCipher::new(prf());
        let long = |unit: &str| unit.repeat(BYTE_SYMBOLS_FROM / unit.len() + 1);
        let both = |input: &str| {
            let keep: &dyn Fn(usize) -> bool = &|i| i % 7 == 3;
            let value = (input.as_bytes(), Some(input), keep);
            let (mut bytes, mut packed) = (Vec::new(), Vec::new());
            let fits = c.encrypt_in(
                &mut ByteSymbols::new(),
                &mut Vec::new(),
                5,
                value,
                &mut bytes,
            );
            assert!(c.encrypt_in(&mut Packed, &mut Vec::new(), 5, value, &mut packed));
            (fits, bytes, packed)
        };
        for unit in ["Call 555-12-3456, ok. ", "Zoë Łukasz Мария 42 ", "x", "7"] {
            let (fits, bytes, packed) = both(&long(unit));
            assert!(fits, "{unit}");
            assert_eq!(bytes, packed, "{unit}");
        }
        let (fits, bytes, _) = both(&long("Ab 田中 "));
        assert!(!fits && bytes.is_empty());
        let input = long("Ab 田中 ");
        let mut out = Vec::new();
        c.encrypt(5, input.as_bytes(), &|i| i % 7 == 3, &mut out);
        assert_eq!(out, both(&input).2);
        // Radices are stored exactly: each code decodes to the symbol it
        // was made from, and a changed value keeps its radix.
        let mut code = ByteSymbols::new();
        for (value, radix) in [(3, 10), (25, 26), (0, 10), (127, 128), (0, 1)] {
            let b = code.encode(value, radix).expect("fits");
            assert_eq!(code.unpack(b), (value, radix));
            assert_eq!(
                code.unpack(code.with_value(b, radix - 1)),
                (radix - 1, radix)
            );
        }
        assert_eq!(code.encode(0, 92), None, "10 + 26 + 128 + 1 + 92 > 256");
        assert_eq!(code.encode(0, 300), None);
    }

    #[test]
    fn case_is_kept_aside() {
        let c = TextCipher::new(prf());
        assert_eq!(enc(&c, "john").to_uppercase(), enc(&c, "JOHN"));
        assert_eq!(
            enc(&c, "john").to_lowercase(),
            enc(&c, "JoHn").to_lowercase()
        );
    }

    /// Lower case character by character, as PostgreSQL's `lower()` does
    /// with a libc locale (no final-sigma rule).
    fn lower_each(s: &str) -> String {
        s.chars()
            .map(|c| single(c.to_lowercase()).unwrap_or(c))
            .collect()
    }

    /// Issue 16 item 10: a unique index on `lower(email)` holds in every
    /// script with case, not only ASCII: the output's lower case depends
    /// only on the input's, and different lower cases stay different.
    #[test]
    fn case_is_kept_aside_in_every_script() {
        let c = TextCipher::new(prf());
        for (lower, upper) in [
            ("zoë.müller", "ZOË.MÜLLER"),
            ("мария.иванова", "МАРИЯ.ИВАНОВА"),
            ("ѐѓѕ", "ЀЃЅ"),
            ("αλέξανδρα", "ΑΛΈΞΑΝΔΡΑ"),
            ("łukasz.żółć", "ŁUKASZ.ŻÓŁĆ"),
            ("ÿves", "ŸVES"),
        ] {
            let (l, u) = (enc(&c, lower), enc(&c, upper));
            assert_eq!(lower_each(&u), l, "{lower} / {upper}");
            assert_ne!(l, lower);
        }
        // Two letters each from é/É, ж/Ж, ł/Ł and a, in every case mix:
        // outputs equal under lower() exactly when the inputs are.
        let letters = ['é', 'É', 'ж', 'Ж', 'ł', 'Ł', 'a', 'A'];
        let mut seen = std::collections::HashMap::new();
        for x in letters {
            for y in letters {
                let input: String = [x, y].iter().collect();
                let out = lower_each(&enc(&c, &input));
                let key = lower_each(&input);
                if let Some(prev) = seen.insert(out.clone(), key.clone()) {
                    assert_eq!(prev, key, "{input} collides under lower()");
                }
            }
        }
    }

    #[test]
    fn non_utf8_bytes_are_encrypted_too() {
        let c = TextCipher::new(prf());
        let mut out = Vec::new();
        c.encrypt(0, b"ab\xe9\xff-1", &|_| false, &mut out);
        assert_eq!(out.len(), 6);
        assert_eq!(out[4], b'-');
        assert!(out[2] >= 0x80 && out[3] >= 0x80);
    }

    trait Pair {
        fn into_iter_pair(self) -> (Vec<char>, Vec<char>);
    }
    impl<'a> Pair for (std::str::Chars<'a>, std::str::Chars<'a>) {
        fn into_iter_pair(self) -> (Vec<char>, Vec<char>) {
            (self.0.collect(), self.1.collect())
        }
    }
}
