use std::io::Read;

use super::*;

fn shipped_list() -> String {
    let file = std::fs::File::open(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/data/top-100000.txt.gz"
    ))
    .unwrap_or_else(|e| panic!("the shipped list: {e}"));
    let mut text = String::new();
    flate2::read::GzDecoder::new(file)
        .read_to_string(&mut text)
        .unwrap_or_else(|e| panic!("the shipped list: {e}"));
    text
}

#[test]
fn every_listed_password_is_found_in_any_case() {
    let text = shipped_list();
    let mut checked = 0;
    for password in text.lines().filter(|l| !l.is_empty()) {
        assert!(contains(password), "{password:?} missed");
        checked += 1;
    }
    assert_eq!(checked, LISTED);
    for password in [
        "123456", "password", "Password", "PASSWORD", "dragon", "iloveyou",
    ] {
        assert!(contains(password), "{password:?} missed");
    }
}

/// splitmix64: a fixed sequence, so the test is the same on every run.
fn next(state: &mut u64) -> u64 {
    *state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
    let mut z = *state;
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

#[test]
fn random_passwords_are_almost_never_taken_for_breached_ones() {
    const ALPHABET: &[u8] =
        b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789!#%&*+-=?@^_";
    const SAMPLES: usize = 1_000_000;
    let mut state = 42;
    let false_positives = (0..SAMPLES)
        .filter(|_| {
            // 12 to 27 characters: what a password manager makes.
            let len = 12 + (next(&mut state) % 16) as usize;
            let password: String = (0..len)
                .map(|_| ALPHABET[(next(&mut state) % ALPHABET.len() as u64) as usize] as char)
                .collect();
            contains(&password)
        })
        .count();
    // The filter promises about 2^-32 per password: a million strings
    // should find none. The bound is loose so that a filter of another
    // width (2^-16: about 15 a million) would fail it.
    assert!(
        false_positives <= 1,
        "{false_positives} of {SAMPLES} random passwords were taken for breached ones"
    );
}
