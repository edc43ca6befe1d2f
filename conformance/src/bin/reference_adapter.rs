//! The reference adapter built with the `faults` feature: honours
//! `YAMUX_FAULT=<name>` (see `conformance::reference`).

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    std::process::exit(conformance::reference::main_with(&args));
}
