use super::*;

#[test]
fn codes_are_six_digits_drawn_uniformly() -> Result<()> {
    const DRAWS: usize = 20_000;
    let mut by_first_digit = [0usize; 10];
    let mut by_last_digit = [0usize; 10];
    for _ in 0..DRAWS {
        let code = new_code()?;
        let code = code.expose();
        assert_eq!(code.len(), 6, "{code}");
        assert!(code.bytes().all(|b| b.is_ascii_digit()), "{code}");
        by_first_digit[usize::from(code.as_bytes()[0] - b'0')] += 1;
        by_last_digit[usize::from(code.as_bytes()[5] - b'0')] += 1;
    }
    // Each digit is expected 2000 times (standard deviation about 42): a
    // leading zero dropped, or a modulo bias, falls far outside.
    for counts in [by_first_digit, by_last_digit] {
        for (digit, count) in counts.iter().enumerate() {
            assert!((1700..=2300).contains(count), "{digit}: {counts:?}");
        }
    }
    Ok(())
}

#[test]
fn codes_are_parsed_as_typed_or_refused_naming_the_field() {
    assert_eq!(
        parse_code("code", " 123 456 ").ok().as_deref(),
        Some("123456")
    );
    assert_eq!(parse_code("code", "000001").ok().as_deref(), Some("000001"));
    for raw in ["", "12345", "1234567", "12345a", "１２３４５６", "123-456"] {
        let err = parse_code("code", raw).unwrap_err();
        assert_eq!(err.reason(), Reason::InvalidArgument, "{raw}");
        assert_eq!(err.violation().map(|v| v.field.as_str()), Some("code"));
    }
}

#[test]
fn keys_name_the_purpose_and_the_subject() {
    let id = Uuid::nil();
    assert_eq!(
        Purpose::Email.key(id),
        "email_verification:00000000-0000-0000-0000-000000000000"
    );
    assert_eq!(
        Purpose::Phone.key(id),
        "phone_verification:00000000-0000-0000-0000-000000000000"
    );
}
