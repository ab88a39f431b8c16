fn main() {
    let job: u64 = std::env::args().nth(1).unwrap().parse().unwrap();
    let seed = sim::campaign::schedule::seed_of(0, job);
    println!("# seed {seed}");
    print!("{}", sim::campaign::generate::generate(seed).to_toml());
}
