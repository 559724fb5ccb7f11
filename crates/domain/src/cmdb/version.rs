//! Package versions compared the way dpkg compares them (Debian Policy §5.6.12), which
//! also orders RPM's `epoch:version-release` sensibly: `1:2.0` > `3.0`, `1.0~rc1` < `1.0`,
//! `3.0.13` > `3.0.9`.

use std::cmp::Ordering;

/// Compares two package versions.
pub fn compare(a: &str, b: &str) -> Ordering {
    let (epoch_a, upstream_a, revision_a) = split(a);
    let (epoch_b, upstream_b, revision_b) = split(b);
    epoch_a
        .cmp(&epoch_b)
        .then_with(|| compare_part(upstream_a, upstream_b))
        .then_with(|| compare_part(revision_a, revision_b))
}

/// `epoch:upstream-revision`; a missing epoch is 0 and a missing revision empty.
fn split(version: &str) -> (u64, &str, &str) {
    let (epoch, rest) = match version.split_once(':') {
        Some((epoch, rest)) if epoch.chars().all(|c| c.is_ascii_digit()) => {
            (epoch.parse().unwrap_or(0), rest)
        }
        _ => (0, version),
    };
    match rest.rsplit_once('-') {
        Some((upstream, revision)) => (epoch, upstream, revision),
        None => (epoch, rest, ""),
    }
}

/// dpkg's `verrevcmp`: alternating runs of non-digits (compared by [`order`]) and digits
/// (compared as numbers).
fn compare_part(a: &str, b: &str) -> Ordering {
    let (mut a, mut b) = (a.as_bytes(), b.as_bytes());
    while !a.is_empty() || !b.is_empty() {
        let text_a = a.iter().take_while(|c| !c.is_ascii_digit()).count();
        let text_b = b.iter().take_while(|c| !c.is_ascii_digit()).count();
        let mut i = 0;
        while i < text_a || i < text_b {
            let oa = if i < text_a { order(a[i]) } else { 0 };
            let ob = if i < text_b { order(b[i]) } else { 0 };
            if oa != ob {
                return oa.cmp(&ob);
            }
            i += 1;
        }
        a = &a[text_a..];
        b = &b[text_b..];
        let digits_a = a.iter().take_while(|c| c.is_ascii_digit()).count();
        let digits_b = b.iter().take_while(|c| c.is_ascii_digit()).count();
        let number = |digits: &[u8]| {
            let trimmed: Vec<u8> = digits.iter().copied().skip_while(|d| *d == b'0').collect();
            trimmed
        };
        let (na, nb) = (number(&a[..digits_a]), number(&b[..digits_b]));
        let by_number = na.len().cmp(&nb.len()).then_with(|| na.cmp(&nb));
        if by_number != Ordering::Equal {
            return by_number;
        }
        a = &a[digits_a..];
        b = &b[digits_b..];
    }
    Ordering::Equal
}

/// A character's weight: `~` before the end of the string, the end before letters,
/// letters before everything else.
fn order(c: u8) -> i32 {
    match c {
        b'~' => -1,
        c if c.is_ascii_alphabetic() => i32::from(c),
        c => i32::from(c) + 256,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn debian_orders() {
        let ascending = [
            "1.0~rc1",
            "1.0",
            "1.0-1",
            "1.0-1ubuntu1",
            "1.0a",
            "1.0+b1",
            "1.2",
            "1.10",
            "3.0.9",
            "3.0.11-1~deb12u2",
            "3.0.13",
            "3.0.13-1~deb12u1",
            "1:0.1",
        ];
        for pair in ascending.windows(2) {
            assert_eq!(compare(pair[0], pair[1]), Ordering::Less, "{pair:?}");
            assert_eq!(compare(pair[1], pair[0]), Ordering::Greater, "{pair:?}");
        }
        assert_eq!(compare("1.01", "1.1"), Ordering::Equal);
        assert_eq!(compare("0:1.0", "1.0"), Ordering::Equal);
    }

    proptest! {
        #[test]
        fn comparison_is_antisymmetric_and_reflexive(a in "[0-9a-z.~+:-]{0,12}", b in "[0-9a-z.~+:-]{0,12}") {
            prop_assert_eq!(compare(&a, &a), Ordering::Equal);
            prop_assert_eq!(compare(&a, &b), compare(&b, &a).reverse());
        }
    }
}
