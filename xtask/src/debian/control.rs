//! deb822 control text, as in `Packages` indices: paragraphs separated by blank lines, each of
//! `Field: value` lines, a value continuing on lines that start with a space or tab.

/// One paragraph; values are slices of the text, continuation lines included.
#[derive(Debug)]
pub struct Paragraph<'a> {
    /// 1-based line of its first field, for error messages.
    pub line: usize,
    fields: Vec<(&'a str, &'a str)>,
}

impl<'a> Paragraph<'a> {
    /// A field's value; field names are case-insensitive.
    pub fn get(&self, name: &str) -> Option<&'a str> {
        self.fields
            .iter()
            .find(|(field, _)| field.eq_ignore_ascii_case(name))
            .map(|(_, value)| *value)
    }
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("line {line}: {problem}")]
pub struct ControlError {
    pub line: usize,
    pub problem: &'static str,
}

pub fn paragraphs(text: &str) -> Result<Vec<Paragraph<'_>>, ControlError> {
    let mut paragraphs = Vec::new();
    let mut current: Option<Paragraph> = None;
    // The field being read: its name, and where its value starts and ends in `text`.
    let mut open: Option<(&str, usize, usize)> = None;
    let mut offset = 0;
    for (index, line) in text.split_inclusive('\n').enumerate() {
        let start = offset;
        offset += line.len();
        let content = line.trim_end_matches(['\n', '\r']);
        if content.trim().is_empty() {
            close_field(text, &mut open, &mut current);
            paragraphs.extend(current.take());
            continue;
        }
        if content.starts_with([' ', '\t']) {
            let Some((_, _, end)) = open.as_mut() else {
                return Err(ControlError {
                    line: index + 1,
                    problem: "a continuation line with no field before it",
                });
            };
            *end = start + content.len();
            continue;
        }
        let Some(colon) = content.find(':') else {
            return Err(ControlError {
                line: index + 1,
                problem: "a line that is neither `Field: value` nor a continuation",
            });
        };
        close_field(text, &mut open, &mut current);
        let value_start = start + colon + 1;
        open = Some((&content[..colon], value_start, start + content.len()));
        current.get_or_insert(Paragraph {
            line: index + 1,
            fields: Vec::new(),
        });
    }
    close_field(text, &mut open, &mut current);
    paragraphs.extend(current);
    Ok(paragraphs)
}

fn close_field<'a>(
    text: &'a str,
    open: &mut Option<(&'a str, usize, usize)>,
    current: &mut Option<Paragraph<'a>>,
) {
    if let (Some((name, start, end)), Some(paragraph)) = (open.take(), current.as_mut()) {
        paragraph.fields.push((name, text[start..end].trim()));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_paragraphs_fields_and_continuations() {
        let text = "Package: a\nDepends: b,\n c (>= 1)\nDescription: x\n more\n .\n\n\nPackage: d\r\nversion: 2\r\n";
        let all = paragraphs(text).unwrap();
        assert_eq!(all.len(), 2);
        assert_eq!(all[0].get("Package"), Some("a"));
        assert_eq!(all[0].get("Depends"), Some("b,\n c (>= 1)"));
        assert_eq!(all[0].get("Description"), Some("x\n more\n ."));
        assert_eq!(all[1].line, 9);
        assert_eq!(all[1].get("Version"), Some("2"));
        assert_eq!(all[1].get("Depends"), None);
    }

    #[test]
    fn names_the_line_of_a_broken_field() {
        let error = paragraphs("Package: a\nnot a field\n").unwrap_err();
        assert_eq!(error.line, 2);
        assert_eq!(paragraphs(" orphan\n").unwrap_err().line, 1);
    }
}
