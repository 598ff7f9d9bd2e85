//! A git server's ref advertisement (smart HTTP, `GET <repo>.git/info/refs?service=git-upload-pack`), read as
//! git's pkt-lines: how a poller learns a branch's newest commit without cloning.
//!
//! A pkt-line is four hex digits giving its length (the four included) and that many bytes less four; `0000`
//! is a flush, `0001` and `0002` are protocol v2's delimiter and response end. The answer is the service line
//! (`# service=git-upload-pack`), a flush, then one line per ref, `<object id> <name>`, the first followed by NUL
//! and the server's capabilities, and a flush. An empty repository advertises only `capabilities^{}`.

/// Why an answer is not a ref advertisement.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AdvertisementError {
    /// A length is not four hex digits, or runs past the end.
    #[error("malformed pkt-line at byte {0}")]
    Malformed(usize),
    /// The answer does not start with the upload-pack service line (not a smart HTTP server).
    #[error("not a git-upload-pack ref advertisement")]
    NotAdvertisement,
}

/// One pkt-line: its payload, or a special packet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Packet<'a> {
    /// `0000`.
    Flush,
    /// `0001` (protocol v2).
    Delimiter,
    /// `0002` (protocol v2).
    ResponseEnd,
    /// A line's bytes (its trailing newline included when sent).
    Data(&'a [u8]),
}

/// Splits `body` into pkt-lines.
pub fn packets(body: &[u8]) -> Result<Vec<Packet<'_>>, AdvertisementError> {
    let mut out = Vec::new();
    let mut at = 0;
    while at < body.len() {
        let head = body
            .get(at..at + 4)
            .ok_or(AdvertisementError::Malformed(at))?;
        let text = std::str::from_utf8(head).map_err(|_| AdvertisementError::Malformed(at))?;
        if !text.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(AdvertisementError::Malformed(at));
        }
        let len = usize::from_str_radix(text, 16).map_err(|_| AdvertisementError::Malformed(at))?;
        match len {
            0 => out.push(Packet::Flush),
            1 => out.push(Packet::Delimiter),
            2 => out.push(Packet::ResponseEnd),
            3 => return Err(AdvertisementError::Malformed(at)),
            n => {
                let data = body
                    .get(at + 4..at + n)
                    .ok_or(AdvertisementError::Malformed(at))?;
                out.push(Packet::Data(data));
                at += n;
                continue;
            }
        }
        at += 4;
    }
    Ok(out)
}

/// The refs a smart HTTP server advertises: `(name, object id)` in its order (peeled tags `^{}` included).
pub fn advertised_refs(body: &[u8]) -> Result<Vec<(String, String)>, AdvertisementError> {
    let packets = packets(body)?;
    let mut lines = packets.iter();
    match lines.next() {
        Some(Packet::Data(first)) if trim(first).starts_with(b"# service=git-upload-pack") => {}
        _ => return Err(AdvertisementError::NotAdvertisement),
    }
    let mut refs = Vec::new();
    for packet in lines {
        let Packet::Data(line) = packet else {
            continue;
        };
        let line = trim(line);
        // The first ref carries the capabilities after a NUL.
        let line = line.split(|&b| b == 0).next().unwrap_or_default();
        let text = String::from_utf8_lossy(line);
        let Some((id, name)) = text.split_once(' ') else {
            continue;
        };
        if name == "capabilities^{}" {
            continue;
        }
        refs.push((name.to_owned(), id.to_owned()));
    }
    Ok(refs)
}

/// The commit `refs/heads/<branch>` points at; None when the branch does not exist.
pub fn branch_head(body: &[u8], branch: &str) -> Result<Option<String>, AdvertisementError> {
    let wanted = format!("refs/heads/{branch}");
    Ok(advertised_refs(body)?
        .into_iter()
        .find(|(name, _)| *name == wanted)
        .map(|(_, id)| id))
}

fn trim(line: &[u8]) -> &[u8] {
    line.strip_suffix(b"\n").unwrap_or(line)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A pkt-line of `text`.
    fn pkt(text: &str) -> String {
        format!("{:04x}{text}", text.len() + 4)
    }

    const MAIN: &str = "6c1f0e9d8b7a65432100fedcba9876543210abcd";
    const TAG: &str = "0b5e2c7a9d1f3e4a6b8c0d2e4f6a8b0c2d4e6f80";

    fn advertisement() -> String {
        [
            pkt("# service=git-upload-pack\n"),
            "0000".to_owned(),
            pkt(&format!(
                "{MAIN} HEAD\0multi_ack side-band-64k symref=HEAD:refs/heads/main agent=git/2.45\n"
            )),
            pkt(&format!("{MAIN} refs/heads/main\n")),
            pkt(&format!("{TAG} refs/heads/release/1.x\n")),
            pkt(&format!("{TAG} refs/tags/v1.0\n")),
            pkt(&format!("{MAIN} refs/tags/v1.0^{{}}\n")),
            "0000".to_owned(),
        ]
        .concat()
    }

    #[test]
    fn a_branch_head_is_read_from_the_advertisement() {
        let body = advertisement();
        let check = |branch: &str, expected: Option<&str>| {
            assert_eq!(
                branch_head(body.as_bytes(), branch)
                    .expect("parsed")
                    .as_deref(),
                expected,
                "{branch}"
            );
        };
        check("main", Some(MAIN));
        check("release/1.x", Some(TAG));
        check("v1.0", None);
        check("develop", None);
        let refs = advertised_refs(body.as_bytes()).expect("parsed");
        assert_eq!(refs[0], ("HEAD".to_owned(), MAIN.to_owned()));
        assert_eq!(refs.len(), 5);
    }

    #[test]
    fn an_empty_repository_advertises_no_branch() {
        let body = [
            pkt("# service=git-upload-pack\n"),
            "0000".to_owned(),
            pkt(&format!(
                "{} capabilities^{{}}\0report-status\n",
                "0".repeat(40)
            )),
            "0000".to_owned(),
        ]
        .concat();
        assert_eq!(advertised_refs(body.as_bytes()), Ok(vec![]));
        assert_eq!(branch_head(body.as_bytes(), "main"), Ok(None));
    }

    #[test]
    fn other_answers_are_refused() {
        let check = |body: &[u8], expected: AdvertisementError| {
            assert_eq!(
                advertised_refs(body),
                Err(expected),
                "{}",
                String::from_utf8_lossy(body)
            );
        };
        // A dumb server's plain text, an HTML error page, a length past the end, a length of 3.
        check(
            format!("{MAIN}\trefs/heads/main\n").as_bytes(),
            AdvertisementError::Malformed(0),
        );
        check(b"<html>", AdvertisementError::Malformed(0));
        check(
            b"0032# service=git-upload-pack\n",
            AdvertisementError::Malformed(0),
        );
        check(b"0003", AdvertisementError::Malformed(0));
        check(
            [pkt("version 2\n"), "0000".to_owned()].concat().as_bytes(),
            AdvertisementError::NotAdvertisement,
        );
        check(b"", AdvertisementError::NotAdvertisement);
        assert_eq!(
            packets(b"000000010002").expect("special packets"),
            vec![Packet::Flush, Packet::Delimiter, Packet::ResponseEnd]
        );
    }
}
