//! Whether a log string needs escaping, read eight bytes at a time. The access line
//! writes its strings (request id, path, route, `sub`, reason, and in JSON every field
//! name) on every request and almost never one that needs an escape; a scan a byte at a
//! time with its comparisons cost more than writing them.

const ONES: u64 = 0x0101_0101_0101_0101;
const HIGHS: u64 = 0x8080_8080_8080_8080;

/// Whether some byte of `word` is below `n` (at most 0x80), exactly (Bit Twiddling
/// Hacks, "hasless").
fn has_below(word: u64, n: u8) -> bool {
    word.wrapping_sub(ONES * u64::from(n)) & !word & HIGHS != 0
}

/// Whether some byte of `word` is `byte`.
fn has_byte(word: u64, byte: u8) -> bool {
    has_below(word ^ (ONES * u64::from(byte)), 1)
}

/// Whether JSON must escape something in `text`: a control character, `"` or `\`.
pub(super) fn json_needs_escaping(text: &str) -> bool {
    any_byte(
        text,
        |w| has_below(w, 0x20) || has_byte(w, b'"') || has_byte(w, b'\\'),
        |b| b < 0x20 || b == b'"' || b == b'\\',
    )
}

/// Whether `text` holds a byte that `Debug` might escape: a control character, DEL, a
/// quote, a backslash or any non-ASCII byte.
pub(super) fn debug_may_escape(text: &str) -> bool {
    any_byte(
        text,
        |w| {
            w & HIGHS != 0
                || has_below(w, 0x20)
                || has_byte(w, 0x7f)
                || has_byte(w, b'"')
                || has_byte(w, b'\\')
        },
        |b| !(0x20..0x7f).contains(&b) || b == b'"' || b == b'\\',
    )
}

fn any_byte(text: &str, in_word: impl Fn(u64) -> bool, is: impl Fn(u8) -> bool) -> bool {
    let mut words = text.as_bytes().chunks_exact(8);
    words
        .by_ref()
        .any(|w| in_word(u64::from_le_bytes(w.try_into().unwrap_or_default())))
        || words.remainder().iter().any(|&b| is(b))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn json_naive(text: &str) -> bool {
        text.bytes().any(|b| b < 0x20 || b == b'"' || b == b'\\')
    }

    fn debug_naive(text: &str) -> bool {
        text.bytes()
            .any(|b| !(0x20..0x7f).contains(&b) || b == b'"' || b == b'\\')
    }

    /// Every byte value at every position of a word, its neighbours harmless ones on
    /// either side of the boundaries the word trick could confuse.
    #[test]
    fn every_byte_at_every_position_is_judged_as_one_at_a_time() {
        for len in 1..=17 {
            for at in 0..len {
                for byte in 0u8..0x80 {
                    for filler in [b'a', b' ', b'~', 0x21] {
                        let mut bytes = vec![filler; len];
                        bytes[at] = byte;
                        let text = std::str::from_utf8(&bytes).unwrap_or_default();
                        assert_eq!(json_needs_escaping(text), json_naive(text), "{bytes:?}");
                        assert_eq!(debug_may_escape(text), debug_naive(text), "{bytes:?}");
                    }
                }
            }
        }
    }

    proptest! {
        #[test]
        fn any_text_is_judged_as_one_byte_at_a_time(text in any::<String>()) {
            prop_assert_eq!(json_needs_escaping(&text), json_naive(&text));
            prop_assert_eq!(debug_may_escape(&text), debug_naive(&text));
        }

        #[test]
        fn ascii_text_is_judged_as_one_byte_at_a_time(text in "[\\x00-\\x7f]{0,40}") {
            prop_assert_eq!(json_needs_escaping(&text), json_naive(&text));
            prop_assert_eq!(debug_may_escape(&text), debug_naive(&text));
        }
    }
}
