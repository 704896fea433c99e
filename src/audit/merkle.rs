//! The hash tree over a run's lines (RFC 6962's shape): a leaf is SHA-256(0x00 ‖ the
//! line's canonical bytes), an inner node SHA-256(0x01 ‖ left ‖ right), and a level with
//! an odd node out carries it up unchanged. The chain holds the root; the run directory
//! holds the lines and their leaves, so a changed line is named, and one line can be
//! proven with a path of log₂(n) hashes.

use sha2::{Digest, Sha256};

pub type Hash = [u8; 32];

pub fn leaf(bytes: &[u8]) -> Hash {
    let mut h = Sha256::new();
    h.update([0u8]);
    h.update(bytes);
    h.finalize().into()
}

fn node(left: &Hash, right: &Hash) -> Hash {
    let mut h = Sha256::new();
    h.update([1u8]);
    h.update(left);
    h.update(right);
    h.finalize().into()
}

/// The root of the leaves; the hash of nothing for none.
pub fn root(leaves: &[Hash]) -> Hash {
    if leaves.is_empty() {
        return Sha256::digest([]).into();
    }
    let mut level: Vec<Hash> = leaves.to_vec();
    while level.len() > 1 {
        level = level
            .chunks(2)
            .map(|pair| match pair {
                [l, r] => node(l, r),
                [odd] => *odd,
                _ => unreachable!("chunks of two"),
            })
            .collect();
    }
    level[0]
}

pub fn hex(hash: &Hash) -> String {
    hash.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_changed_or_moved_leaf_changes_the_root() {
        let leaves: Vec<Hash> = (0..5)
            .map(|i| leaf(format!("line {i}").as_bytes()))
            .collect();
        let r = root(&leaves);
        let mut changed = leaves.clone();
        changed[3] = leaf(b"line 3 edited");
        assert_ne!(root(&changed), r);
        let mut swapped = leaves.clone();
        swapped.swap(1, 2);
        assert_ne!(root(&swapped), r);
        assert_ne!(root(&leaves[..4]), r);
        assert_eq!(root(&leaves), r);
        // Domain separation: a leaf is never taken for a node.
        assert_ne!(root(&leaves[..2]), leaf(&[leaves[0], leaves[1]].concat()));
    }
}
