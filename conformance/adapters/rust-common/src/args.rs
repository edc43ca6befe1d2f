//! `run --role server|client --addr HOST:PORT`

/// Which side of the session the adapter plays.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    Server,
    Client,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Args {
    pub role: Role,
    pub addr: String,
}

/// Why the arguments were refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ArgsError {
    /// An unknown role or option: the contract's exit code 89.
    Unsupported(String),
    /// Something missing or malformed: a usage error.
    Usage(String),
}

/// Parses the arguments after the program name. Accepts `--opt value` and `--opt=value`.
pub fn parse_args<I: IntoIterator<Item = String>>(args: I) -> Result<Args, ArgsError> {
    let mut role = None;
    let mut addr = None;
    let mut it = args.into_iter();
    while let Some(arg) = it.next() {
        let (name, inline) = match arg.split_once('=') {
            Some((n, v)) if n.starts_with("--") => (n.to_string(), Some(v.to_string())),
            _ => (arg.clone(), None),
        };
        let slot = match name.as_str() {
            "--role" => &mut role,
            "--addr" => &mut addr,
            _ => return Err(ArgsError::Unsupported(format!("unknown option `{arg}`"))),
        };
        let value = match inline {
            Some(v) => v,
            None => it
                .next()
                .ok_or_else(|| ArgsError::Usage(format!("`{name}` needs a value")))?,
        };
        *slot = Some(value);
    }
    let role = match role.as_deref() {
        Some("server") => Role::Server,
        Some("client") => Role::Client,
        Some(other) => return Err(ArgsError::Unsupported(format!("unknown role `{other}`"))),
        None => return Err(ArgsError::Usage("missing `--role server|client`".into())),
    };
    let addr = addr.ok_or_else(|| ArgsError::Usage("missing `--addr HOST:PORT`".into()))?;
    Ok(Args { role, addr })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> Result<Args, ArgsError> {
        parse_args(args.iter().map(|s| s.to_string()))
    }

    #[test]
    fn roles_and_forms() {
        assert_eq!(
            parse(&["--role", "server", "--addr", "127.0.0.1:0"]),
            Ok(Args {
                role: Role::Server,
                addr: "127.0.0.1:0".into()
            })
        );
        assert_eq!(
            parse(&["--addr=127.0.0.1:9", "--role=client"]).map(|a| a.role),
            Ok(Role::Client)
        );
    }

    #[test]
    fn refusals() {
        assert!(matches!(
            parse(&["--role", "bogus", "--addr", "x"]),
            Err(ArgsError::Unsupported(_))
        ));
        assert!(matches!(
            parse(&["--role", "server", "--addr", "x", "--frob"]),
            Err(ArgsError::Unsupported(_))
        ));
        assert!(matches!(
            parse(&["--role", "server"]),
            Err(ArgsError::Usage(_))
        ));
        assert!(matches!(parse(&["--role"]), Err(ArgsError::Usage(_))));
    }
}
