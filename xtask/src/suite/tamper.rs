//! Corrupting one byte of a file's data inside a disk image, for the tamper test. Pure.

/// Finds the one place where `file_contents` sits in `image` and flips a byte in it, returning
/// the offset. Refuses when the contents are absent or ambiguous, since then the test would
/// prove nothing.
pub fn flip_byte_of_file(image: &mut [u8], file_contents: &[u8]) -> Result<usize, String> {
    let window = file_contents
        .get(..file_contents.len().min(256))
        .unwrap_or_default();
    if window.len() < 32 {
        return Err(format!(
            "the file is {} bytes; too short to locate reliably",
            file_contents.len()
        ));
    }
    let mut matches = image
        .windows(window.len())
        .enumerate()
        .filter(|(_, w)| *w == window)
        .map(|(at, _)| at);
    let at = matches
        .next()
        .ok_or("the file's contents are not in the image as plain data")?;
    if matches.next().is_some() {
        return Err("the file's contents appear more than once in the image".to_owned());
    }
    let offset = at + window.len() / 2;
    image[offset] ^= 0x01;
    Ok(offset)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flips_exactly_one_byte_inside_the_file() {
        let contents: Vec<u8> = (0..100u8).collect();
        let mut image = vec![0xffu8; 50];
        image.extend(&contents);
        image.extend([0xffu8; 50]);
        let original = image.clone();
        let offset = flip_byte_of_file(&mut image, &contents).unwrap();
        assert!((50..150).contains(&offset));
        let differing: Vec<usize> = (0..image.len())
            .filter(|&i| image[i] != original[i])
            .collect();
        assert_eq!(differing, [offset]);
    }

    #[test]
    fn refuses_absent_or_repeated_contents() {
        let contents = vec![7u8; 40];
        assert!(flip_byte_of_file(&mut [0u8; 100], &contents).is_err());
        let mut twice = contents.clone();
        twice.push(0);
        twice.extend(&contents);
        assert!(
            flip_byte_of_file(&mut twice, &contents)
                .unwrap_err()
                .contains("more than once")
        );
    }
}
