//! A product's gallery and specification attributes: what they may hold (no I/O).

use service_kit::ApiError;
use service_kit::validate::{optional_text, required_text};

use super::urls::check_url;

/// Most pictures in a gallery.
pub const MAX_IMAGES: usize = 20;
/// Most specification attributes of a product.
pub const MAX_ATTRIBUTES: usize = 50;

/// A picture of the gallery, checked.
#[derive(Clone, Debug, PartialEq)]
pub struct Image {
    pub url: String,
    pub alt: Option<String>,
}

/// A specification attribute, checked: `Material: cotton`.
#[derive(Clone, Debug, PartialEq)]
pub struct Attribute {
    pub name: String,
    pub value: String,
}

/// Checks a gallery given as `(url, alt)` pairs under `field` (`input.images`); errors name
/// the entry (`input.images[2].url`).
pub fn check_images(
    field: &str,
    images: &[(String, Option<String>)],
) -> Result<Vec<Image>, ApiError> {
    if images.len() > MAX_IMAGES {
        return Err(ApiError::bad_input(
            field,
            format!("at most {MAX_IMAGES} pictures"),
        ));
    }
    images
        .iter()
        .enumerate()
        .map(|(index, (url, alt))| {
            let url_field = format!("{field}[{index}].url");
            let url = check_url(&url_field, Some(url))?
                .ok_or_else(|| ApiError::bad_input(&url_field, "must not be empty"))?;
            let alt = match alt {
                Some(alt) => Some(optional_text(
                    &format!("{field}[{index}].alt"),
                    alt.trim(),
                    200,
                )?)
                .filter(|alt| !alt.is_empty())
                .map(str::to_owned),
                None => None,
            };
            Ok(Image { url, alt })
        })
        .collect()
}

/// Checks attributes given as `(name, value)` pairs under `field` (`input.attributes`): a
/// name appears once, whatever its case.
pub fn check_attributes(
    field: &str,
    attributes: &[(String, String)],
) -> Result<Vec<Attribute>, ApiError> {
    if attributes.len() > MAX_ATTRIBUTES {
        return Err(ApiError::bad_input(
            field,
            format!("at most {MAX_ATTRIBUTES} attributes"),
        ));
    }
    let mut checked: Vec<Attribute> = Vec::with_capacity(attributes.len());
    for (index, (name, value)) in attributes.iter().enumerate() {
        let name_field = format!("{field}[{index}].name");
        let name = required_text(&name_field, name, 50)?;
        if checked
            .iter()
            .any(|a| a.name.to_lowercase() == name.to_lowercase())
        {
            return Err(ApiError::bad_input(
                name_field,
                format!("{name:?} appears twice"),
            ));
        }
        let value = required_text(&format!("{field}[{index}].value"), value, 200)?;
        checked.push(Attribute { name, value });
    }
    Ok(checked)
}

/// The gallery a product shows: its main picture (`imageUrl`) first, then the others.
pub fn gallery(image_url: Option<&str>, images: Vec<Image>) -> Vec<Image> {
    match image_url {
        Some(main) if !images.iter().any(|image| image.url == main) => {
            let mut shown = vec![Image {
                url: main.to_owned(),
                alt: None,
            }];
            shown.extend(images);
            shown
        }
        Some(main) => {
            let (first, rest): (Vec<_>, Vec<_>) =
                images.into_iter().partition(|image| image.url == main);
            first.into_iter().take(1).chain(rest).collect()
        }
        None => images,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn field(error: ApiError) -> String {
        match error {
            ApiError::BadUserInput { field, .. } => field,
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn pictures_need_an_http_url_and_keep_their_order() {
        let ok = check_images(
            "input.images",
            &[
                ("https://x/1.jpg".into(), Some(" front ".into())),
                ("https://x/2.jpg".into(), Some("  ".into())),
            ],
        )
        .unwrap();
        assert_eq!(ok[0].alt.as_deref(), Some("front"));
        assert_eq!(ok[1].alt, None);
        let bad = check_images(
            "input.images",
            &[("https://x".into(), None), ("ftp://y".into(), None)],
        );
        assert_eq!(field(bad.unwrap_err()), "input.images[1].url");
        let empty = check_images("input.images", &[(" ".into(), None)]);
        assert_eq!(field(empty.unwrap_err()), "input.images[0].url");
        let many: Vec<_> = (0..=MAX_IMAGES)
            .map(|i| (format!("https://x/{i}"), None))
            .collect();
        assert_eq!(
            field(check_images("input.images", &many).unwrap_err()),
            "input.images"
        );
    }

    #[test]
    fn an_attribute_name_appears_once_whatever_its_case() {
        let ok = check_attributes(
            "input.attributes",
            &[
                ("Material".into(), "cotton".into()),
                ("Origin".into(), "China".into()),
            ],
        )
        .unwrap();
        assert_eq!(ok.len(), 2);
        let twice = check_attributes(
            "input.attributes",
            &[
                ("Material".into(), "cotton".into()),
                ("material".into(), "silk".into()),
            ],
        );
        assert_eq!(field(twice.unwrap_err()), "input.attributes[1].name");
        let blank = check_attributes("input.attributes", &[("Material".into(), " ".into())]);
        assert_eq!(field(blank.unwrap_err()), "input.attributes[0].value");
    }

    #[test]
    fn the_main_picture_comes_first_once() {
        let image = |url: &str| Image {
            url: url.into(),
            alt: None,
        };
        let shown = gallery(
            Some("https://m"),
            vec![image("https://a"), image("https://m")],
        );
        let urls: Vec<_> = shown.iter().map(|i| i.url.as_str()).collect();
        assert_eq!(urls, ["https://m", "https://a"]);
        let shown = gallery(Some("https://m"), vec![image("https://a")]);
        let urls: Vec<_> = shown.iter().map(|i| i.url.as_str()).collect();
        assert_eq!(urls, ["https://m", "https://a"]);
        assert!(gallery(None, Vec::new()).is_empty());
    }
}
