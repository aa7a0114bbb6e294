//! IAM's glob matching: `*` matches any run of characters, `?` matches exactly one.

/// Whether `text` matches `pattern`, comparing ASCII letters without case when `ignore_case`.
///
/// IAM compares action names without case and resource ARNs with case, so callers choose. The
/// algorithm is the linear backtracking match over the last `*`, which never recurses.
pub(crate) fn matches(pattern: &str, text: &str, ignore_case: bool) -> bool {
    let pattern = pattern.as_bytes();
    let text = text.as_bytes();
    let same = |p: u8, t: u8| if ignore_case { p.eq_ignore_ascii_case(&t) } else { p == t };

    let (mut p, mut t) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while t < text.len() {
        if p < pattern.len() && (pattern[p] == b'?' || same(pattern[p], text[t])) {
            p += 1;
            t += 1;
        } else if p < pattern.len() && pattern[p] == b'*' {
            star = Some((p, t));
            p += 1;
        } else if let Some((star_p, star_t)) = star {
            p = star_p + 1;
            t = star_t + 1;
            star = Some((star_p, star_t + 1));
        } else {
            return false;
        }
    }
    pattern[p..].iter().all(|&c| c == b'*')
}

/// Whether `pattern` contains a wildcard character.
pub(crate) fn has_wildcard(pattern: &str) -> bool {
    pattern.contains(['*', '?'])
}

#[cfg(test)]
mod tests {
    use super::matches;

    #[test]
    fn star_and_question_mark() {
        assert!(matches("*", "", false));
        assert!(matches("s3:Get*", "s3:GetObject", false));
        assert!(matches("s3:*Object", "s3:GetObject", false));
        assert!(matches("s3:Get?bject", "s3:GetObject", false));
        assert!(!matches("s3:Get?bject", "s3:GetObjectAcl", false));
        assert!(matches("a*b*c", "axxbyyc", false));
        assert!(!matches("a*b*c", "axxbyy", false));
        assert!(matches("arn:aws:s3:::bucket/*", "arn:aws:s3:::bucket/a/b", false));
    }

    #[test]
    fn case_is_a_choice() {
        assert!(matches("S3:getobject", "s3:GetObject", true));
        assert!(!matches("S3:getobject", "s3:GetObject", false));
    }
}
