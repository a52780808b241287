//! scratch
use regex_automata::util::prefilter::Prefilter;
use regex_automata::{Input, MatchKind};
use regex_syntax::hir::literal::{ExtractKind, Extractor};
use std::time::Instant;
fn main() {
    let text = std::fs::read_to_string("/tmp/clean.txt").unwrap();
    let (pats, _gates) = meshgate_guard::__patterns();
    for trunc in [3usize, 4] {
        let mut needles: Vec<Vec<u8>> = Vec::new();
        for p in &pats {
            let hir = regex_syntax::parse(p).unwrap();
            let mut ex = Extractor::new();
            ex.kind(ExtractKind::Prefix).limit_class(16);
            let seq = ex.extract(&hir);
            match seq.literals() {
                Some(l) => {
                    for x in l {
                        let b = x.as_bytes();
                        needles.push(b[..b.len().min(trunc)].to_vec());
                    }
                }
                None => println!("INFINITE: {p}"),
            }
        }
        needles.sort();
        needles.dedup();
        println!(
            "trunc {trunc}: {} needles, min len {}",
            needles.len(),
            needles.iter().map(|n| n.len()).min().unwrap()
        );
        let short: Vec<String> =
            needles.iter().filter(|n| n.len() < 3).map(|n| String::from_utf8_lossy(n).into()).collect();
        println!("short: {short:?}");
        let Some(pre) = Prefilter::new(MatchKind::LeftmostFirst, &needles) else { continue };
        println!("is_fast {}", pre.is_fast());
        for _ in 0..3 {
            let t = Instant::now();
            let mut pos = 0;
            let mut n = 0;
            while let Some(sp) = pre.find(text.as_bytes(), regex_automata::Span::from(pos..text.len())) {
                n += 1;
                pos = sp.start + 1;
            }
            println!("prefilter loop: {:?} hits {n}", t.elapsed());
        }
        let re = regex_automata::meta::Regex::builder()
            .configure(regex_automata::meta::Regex::config().prefilter(Some(pre.clone())))
            .build_many(&pats)
            .unwrap();
        for _ in 0..3 {
            let t = Instant::now();
            let n = re.find_iter(Input::new(&text)).count();
            println!("meta w/ custom prefilter: {:?} {n}", t.elapsed());
        }
    }
}
