//! Globs as CodePipeline documents them for trigger filters: `*` any characters within one path segment, `**`
//! any characters across segments, `?` one character, `[abc]`, `[a-z]` and `[!a-z]` one character of (not of) a
//! set, `{a,b}` one of the sub-patterns (not nested), `\` escapes. A leading or inner `**/` also matches no folder
//! at all, so `**/README.md` selects the top-level README too.

#[derive(Debug, Clone)]
enum Tok {
    Lit(char),
    /// `*`: any characters but `/`.
    Star,
    /// `**`: any characters.
    Deep,
    /// `**/`: nothing, or any characters ending with `/`.
    DeepDir,
    /// `?`: one character but `/`.
    One,
    /// `[...]`: one character (not `/`) in (or, negated, not in) the ranges.
    Class(bool, Vec<(char, char)>),
    /// `{a,b}`: one of the alternatives.
    Group(Vec<Vec<Tok>>),
}

fn parse_seq(p: &[char], i: &mut usize, in_group: bool) -> Vec<Tok> {
    let mut out = Vec::new();
    while *i < p.len() {
        let c = p[*i];
        if in_group && (c == ',' || c == '}') {
            break;
        }
        *i += 1;
        match c {
            '\\' => {
                if let Some(&next) = p.get(*i) {
                    *i += 1;
                    out.push(Tok::Lit(next));
                } else {
                    out.push(Tok::Lit('\\'));
                }
            }
            '*' if p.get(*i) == Some(&'*') => {
                *i += 1;
                if p.get(*i) == Some(&'/') {
                    *i += 1;
                    out.push(Tok::DeepDir);
                } else {
                    out.push(Tok::Deep);
                }
            }
            '*' => out.push(Tok::Star),
            '?' => out.push(Tok::One),
            '[' => match parse_class(p, *i) {
                Some((tok, next)) => {
                    out.push(tok);
                    *i = next;
                }
                None => out.push(Tok::Lit('[')),
            },
            '{' if !in_group => {
                let start = *i;
                let mut alts = Vec::new();
                let closed = loop {
                    alts.push(parse_seq(p, i, true));
                    match p.get(*i) {
                        Some(',') => *i += 1,
                        Some('}') => {
                            *i += 1;
                            break true;
                        }
                        _ => break false,
                    }
                };
                if closed {
                    out.push(Tok::Group(alts));
                } else {
                    *i = start;
                    out.push(Tok::Lit('{'));
                }
            }
            c => out.push(Tok::Lit(c)),
        }
    }
    out
}

/// A bracket expression starting after `[` at `i`: the token and the index after `]`, or None when unclosed.
fn parse_class(p: &[char], mut i: usize) -> Option<(Tok, usize)> {
    let negated = p.get(i) == Some(&'!');
    if negated {
        i += 1;
    }
    let mut ranges = Vec::new();
    let first = i;
    while i < p.len() {
        let c = p[i];
        if c == ']' && i > first {
            return Some((Tok::Class(negated, ranges), i + 1));
        }
        if p.get(i + 1) == Some(&'-') && p.get(i + 2).is_some_and(|&e| e != ']') {
            ranges.push((c, p[i + 2]));
            i += 3;
        } else {
            ranges.push((c, c));
            i += 1;
        }
    }
    None
}

fn matches(toks: &[Tok], text: &[char]) -> bool {
    let Some((tok, rest)) = toks.split_first() else {
        return text.is_empty();
    };
    match tok {
        Tok::Lit(c) => text.first() == Some(c) && matches(rest, &text[1..]),
        Tok::One => text.first().is_some_and(|&c| c != '/') && matches(rest, &text[1..]),
        Tok::Class(negated, ranges) => {
            text.first().is_some_and(|&c| {
                c != '/' && ranges.iter().any(|&(a, b)| a <= c && c <= b) != *negated
            }) && matches(rest, &text[1..])
        }
        Tok::Star => {
            for i in 0..=text.len() {
                if matches(rest, &text[i..]) {
                    return true;
                }
                if text.get(i) == Some(&'/') {
                    return false;
                }
            }
            false
        }
        Tok::Deep => (0..=text.len()).any(|i| matches(rest, &text[i..])),
        Tok::DeepDir => {
            (0..=text.len()).any(|i| (i == 0 || text[i - 1] == '/') && matches(rest, &text[i..]))
        }
        Tok::Group(alts) => alts.iter().any(|alt| {
            let joined: Vec<Tok> = alt.iter().chain(rest).cloned().collect();
            matches(&joined, text)
        }),
    }
}

/// Whether `text` (a branch, tag or file path) matches the glob `pattern`.
pub fn glob_match(pattern: &str, text: &str) -> bool {
    let p: Vec<char> = pattern.chars().collect();
    let mut i = 0;
    let toks = parse_seq(&p, &mut i, false);
    let text: Vec<char> = text.chars().collect();
    matches(&toks, &text)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn globs_follow_codepipelines_rules() {
        let cases = [
            ("main", "main", true),
            ("main", "mainline", false),
            ("feature/*", "feature/login", true),
            ("feature/*", "feature/login/form", false),
            ("feature/**", "feature/login/form", true),
            ("feature/**", "feature", false),
            ("**", "any/path/at/all.txt", true),
            ("*", "", true),
            ("*.java", "Main.java", true),
            ("*.java", "src/Main.java", false),
            ("**/*.java", "src/Main.java", true),
            ("**/*.java", "Main.java", true),
            ("**/README.md", "README.md", true),
            ("**/README.md", "docs/deep/README.md", true),
            ("**/README.md", "docs/README.mdx", false),
            ("common/**/*.js", "common/a.js", true),
            ("common/**/*.js", "common/x/y/a.js", true),
            ("common/**/*.js", "other/a.js", false),
            ("*.*", "file.txt", true),
            ("*.*", "Makefile", false),
            ("*.{java,class}", "A.class", true),
            ("*.{java,class}", "A.kt", false),
            ("{release,hotfix}/*", "hotfix/1.2", true),
            ("foo.?", "foo.c", true),
            ("foo.?", "foo.cc", false),
            ("foo.?", "foo./", false),
            ("v[0-9]*", "v1.2.3", true),
            ("v[0-9]*", "vx", false),
            ("v[!0-9]*", "vx", true),
            ("v[!0-9]*", "v1", false),
            ("[-a]b", "-b", true),
            ("[*?]", "*", true),
            ("[*?]", "x", false),
            ("release\\*", "release*", true),
            ("release\\*", "release1", false),
            // Unclosed brackets and braces are literal.
            ("a[b", "a[b", true),
            ("a{b", "a{b", true),
            ("release-v0", "release-v0", true),
        ];
        for (pattern, text, expected) in cases {
            assert_eq!(glob_match(pattern, text), expected, "{pattern} vs {text}");
        }
    }
}
