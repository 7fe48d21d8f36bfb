//! Parsing and evaluating arithmetic equations such as `2*(3+4)`.
//!
//! Grammar: `+ - * /` with the usual precedence, parentheses, unary minus and
//! decimal numbers. Evaluation is in `f64`.

use std::fmt;

/// Error from solving an equation.
#[derive(Debug, Clone, PartialEq)]
pub struct EquationError {
    /// Byte offset in the equation where the problem was found.
    pub position: usize,
    /// Description of the problem at that position.
    pub message: String,
}

impl fmt::Display for EquationError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} at position {}", self.message, self.position)
    }
}

impl std::error::Error for EquationError {}

/// Evaluates `equation` and returns its value.
pub fn solve(equation: &str) -> Result<f64, EquationError> {
    let mut parser = Parser { text: equation.as_bytes(), position: 0 };
    let value = parser.sum()?;
    parser.skip_spaces();
    if parser.position < parser.text.len() {
        return Err(parser.error(format!("unexpected {:?}", parser.text[parser.position] as char)));
    }
    if !value.is_finite() {
        return Err(EquationError { position: 0, message: "the result is not a finite number (division by zero?)".into() });
    }
    Ok(value)
}

/// Formats a value without a fractional part when it is a whole number.
pub fn format_value(value: f64) -> String {
    if value.fract() == 0.0 && value.abs() < 1e15 {
        format!("{}", value as i64)
    } else {
        format!("{value}")
    }
}

struct Parser<'a> {
    text: &'a [u8],
    position: usize,
}

impl Parser<'_> {
    fn error(&self, message: String) -> EquationError {
        EquationError { position: self.position, message }
    }

    fn skip_spaces(&mut self) {
        while self.text.get(self.position).is_some_and(u8::is_ascii_whitespace) {
            self.position += 1;
        }
    }

    fn peek(&mut self) -> Option<u8> {
        self.skip_spaces();
        self.text.get(self.position).copied()
    }

    fn sum(&mut self) -> Result<f64, EquationError> {
        let mut value = self.product()?;
        while let Some(operator @ (b'+' | b'-')) = self.peek() {
            self.position += 1;
            let right = self.product()?;
            value = if operator == b'+' { value + right } else { value - right };
        }
        Ok(value)
    }

    fn product(&mut self) -> Result<f64, EquationError> {
        let mut value = self.factor()?;
        while let Some(operator @ (b'*' | b'/')) = self.peek() {
            self.position += 1;
            let right = self.factor()?;
            value = if operator == b'*' { value * right } else { value / right };
        }
        Ok(value)
    }

    fn factor(&mut self) -> Result<f64, EquationError> {
        match self.peek() {
            Some(b'-') => {
                self.position += 1;
                Ok(-self.factor()?)
            }
            Some(b'(') => {
                self.position += 1;
                let value = self.sum()?;
                if self.peek() != Some(b')') {
                    return Err(self.error("missing ')'".into()));
                }
                self.position += 1;
                Ok(value)
            }
            Some(byte) if byte.is_ascii_digit() || byte == b'.' => self.number(),
            Some(byte) => Err(self.error(format!("expected a number, found {:?}", byte as char))),
            None => Err(self.error("expected a number, found the end of the equation".into())),
        }
    }

    fn number(&mut self) -> Result<f64, EquationError> {
        let start = self.position;
        while self.text.get(self.position).is_some_and(|b| b.is_ascii_digit() || *b == b'.') {
            self.position += 1;
        }
        let digits = std::str::from_utf8(&self.text[start..self.position]).unwrap_or_default();
        digits.parse().map_err(|_| EquationError { position: start, message: format!("invalid number {digits:?}") })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn solves_precedence_and_parentheses() {
        assert_eq!(solve("1+1"), Ok(2.0));
        assert_eq!(solve("2*(3+4)"), Ok(14.0));
        assert_eq!(solve(" 2 + 3 * 4 "), Ok(14.0));
        assert_eq!(solve("-(1.5*2)"), Ok(-3.0));
        assert_eq!(solve("7/2"), Ok(3.5));
    }

    #[test]
    fn rejects_bad_equations() {
        assert_eq!(solve("2*(3").unwrap_err().message, "missing ')'");
        assert_eq!(solve("").unwrap_err().position, 0);
        assert!(solve("1+x").unwrap_err().message.contains("'x'"));
        assert!(solve("1 2").unwrap_err().message.contains("unexpected"));
        assert!(solve("1/0").is_err());
        assert!(solve("1.2.3").unwrap_err().message.contains("invalid number"));
    }

    #[test]
    fn formats_whole_numbers_without_fraction() {
        assert_eq!(format_value(14.0), "14");
        assert_eq!(format_value(3.5), "3.5");
        assert_eq!(format_value(-3.0), "-3");
    }
}
