fn main() {
    let paths: Vec<std::path::PathBuf> = std::env::args().skip(1).map(Into::into).collect();
    match segflow::catalog::load(&paths) {
        Ok(c) => { for s in &c.segments { println!("{} {} {}", s.hash, s.name, s.loc); } }
        Err(e) => println!("{e}"),
    }
}
