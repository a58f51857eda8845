use std::time::Instant;
fn main() {
    let n = 500_000;
    for len in [1822usize, 3195] {
        let buf = vec![7u8; len];
        for _ in 0..2 {
            let t = Instant::now();
            for _ in 0..n {
                use sha2::Digest;
                std::hint::black_box(sha2::Sha256::digest(std::hint::black_box(&buf)));
            }
            println!("sha256 {len} {:?}", t.elapsed() / n as u32);
            let t = Instant::now();
            for _ in 0..n {
                std::hint::black_box(blake3::hash(std::hint::black_box(&buf)));
            }
            println!("blake3 {len} {:?}", t.elapsed() / n as u32);
        }
    }
}
