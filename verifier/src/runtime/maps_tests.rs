use super::*;

fn info(map_type: u32, key_size: u32, value_size: u32, max_entries: u32) -> MapInfo {
    MapInfo {
        name: "m".into(),
        map_type,
        key_size,
        value_size,
        max_entries,
        read_only: false,
        frozen: None,
        inner: None,
    }
}

fn k(i: u32) -> Vec<u8> {
    i.to_le_bytes().to_vec()
}

#[test]
fn hash_flags_follow_linux() {
    let mut m = Map::new(&info(types::HASH, 4, 8, 4)).expect("map");
    assert_eq!(m.update(&k(1), &[1; 8], BPF_EXIST), Err(MapError::NotFound));
    assert_eq!(m.update(&k(1), &[1; 8], BPF_NOEXIST), Ok(()));
    assert_eq!(m.update(&k(1), &[2; 8], BPF_NOEXIST), Err(MapError::Exists));
    assert_eq!(m.update(&k(1), &[3; 8], BPF_EXIST), Ok(()));
    assert_eq!(m.lookup(&k(1)).map(|v| v.to_vec()), Some(vec![3; 8]));
    assert_eq!(m.update(&k(1), &[3; 8], 8), Err(MapError::Invalid));
    assert_eq!(MapError::Exists.errno(), -17);
    assert_eq!(MapError::NotFound.errno(), -2);
}

#[test]
fn full_hash_refuses_and_lru_evicts_least_recently_used() {
    let mut h = Map::new(&info(types::HASH, 4, 4, 2)).expect("map");
    h.update(&k(1), &[1; 4], BPF_ANY).expect("1");
    h.update(&k(2), &[2; 4], BPF_ANY).expect("2");
    assert_eq!(h.update(&k(3), &[3; 4], BPF_ANY), Err(MapError::Full));
    assert_eq!(MapError::Full.errno(), -7);

    let mut lru = Map::new(&info(types::LRU_HASH, 4, 4, 2)).expect("map");
    lru.update(&k(1), &[1; 4], BPF_ANY).expect("1");
    lru.update(&k(2), &[2; 4], BPF_ANY).expect("2");
    // Touch 1: 2 is now the least recently used.
    assert!(lru.lookup(&k(1)).is_some());
    lru.update(&k(3), &[3; 4], BPF_ANY).expect("3 evicts 2");
    assert!(lru.lookup(&k(2)).is_none());
    assert!(lru.lookup(&k(1)).is_some());
    assert!(lru.lookup(&k(3)).is_some());
    // Now 1 is older than 3.
    lru.update(&k(4), &[4; 4], BPF_ANY).expect("4 evicts 1");
    assert!(lru.lookup(&k(1)).is_none());
    assert_eq!(lru.len(), 2);
}

#[test]
fn deleted_value_stays_readable_until_the_run_ends() {
    let mut m = Map::new(&info(types::HASH, 4, 4, 8)).expect("map");
    m.update(&k(7), &[9, 8, 7, 6], BPF_ANY).expect("insert");
    let held = m.lookup(&k(7)).expect("present");
    m.delete(&k(7)).expect("delete");
    assert_eq!(m.delete(&k(7)), Err(MapError::NotFound));
    assert!(m.lookup(&k(7)).is_none());
    // The program's pointer still reads the old bytes, and writes do not resurrect the entry.
    assert_eq!(held.to_vec(), vec![9, 8, 7, 6]);
    assert_eq!(m.retired.len(), 1);
    m.end_run();
    assert!(m.retired.is_empty());
    assert_eq!(held.to_vec(), vec![9, 8, 7, 6]);
}

#[test]
fn array_semantics() {
    let mut a = Map::new(&info(types::ARRAY, 4, 4, 3)).expect("map");
    assert_eq!(a.lookup(&k(2)).map(|v| v.to_vec()), Some(vec![0; 4]));
    assert!(a.lookup(&k(3)).is_none());
    assert_eq!(a.update(&k(3), &[1; 4], BPF_ANY), Err(MapError::Full));
    assert_eq!(a.update(&k(0), &[1; 4], BPF_NOEXIST), Err(MapError::Exists));
    a.update(&k(1), &[5; 4], BPF_EXIST).expect("exists");
    assert_eq!(a.delete(&k(1)), Err(MapError::Invalid));
    // A value handed out is a window of the slab: it sees later updates.
    let v = a.lookup(&k(1)).expect("v");
    a.update(&k(1), &[6; 4], BPF_ANY).expect("update");
    assert_eq!(v.to_vec(), vec![6; 4]);
    // Percpu arrays are plain arrays.
    assert!(
        Map::new(&info(types::PERCPU_ARRAY, 4, 4, 3))
            .expect("map")
            .is_array()
    );
}

#[test]
fn oversized_array_is_refused_not_allocated() {
    let err = Map::new(&info(types::ARRAY, 4, 1 << 20, 1 << 20)).expect_err("too large");
    assert!(matches!(err, MapError::TooLarge { .. }));
}

#[test]
fn lpm_trie_matches_the_longest_prefix() {
    let mut t = Map::new(&info(types::LPM_TRIE, 8, 1, 8)).expect("map");
    let key = |bits: u32, ip: [u8; 4]| {
        let mut v = bits.to_le_bytes().to_vec();
        v.extend_from_slice(&ip);
        v
    };
    t.update(&key(8, [10, 0, 0, 0]), &[8], BPF_ANY).expect("/8");
    t.update(&key(24, [10, 1, 2, 99]), &[24], BPF_ANY)
        .expect("/24 (host bits ignored)");
    assert_eq!(
        t.update(&key(33, [0; 4]), &[0], BPF_ANY),
        Err(MapError::Invalid)
    );
    let hit = |t: &mut Map, ip| t.lookup(&key(32, ip)).map(|v| v.to_vec());
    assert_eq!(hit(&mut t, [10, 1, 2, 3]), Some(vec![24]));
    assert_eq!(hit(&mut t, [10, 9, 9, 9]), Some(vec![8]));
    assert_eq!(hit(&mut t, [11, 0, 0, 0]), None);
    t.delete(&key(24, [10, 1, 2, 0])).expect("delete /24");
    assert_eq!(hit(&mut t, [10, 1, 2, 3]), Some(vec![8]));
}

#[test]
fn queue_and_stack_order() {
    let mut q = Map::new(&info(types::QUEUE, 0, 1, 2)).expect("queue");
    q.push(&[1], 0).expect("1");
    q.push(&[2], 0).expect("2");
    assert_eq!(q.push(&[3], 0), Err(MapError::Full));
    q.push(&[3], BPF_EXIST).expect("BPF_EXIST drops the oldest");
    assert_eq!(q.pop(false), Ok(vec![2]));
    assert_eq!(q.pop(true), Ok(vec![2]));
    assert_eq!(q.pop(true), Ok(vec![3]));
    assert_eq!(q.pop(true), Err(MapError::NotFound));
    let mut s = Map::new(&info(types::STACK, 0, 1, 4)).expect("stack");
    s.push(&[1], 0).expect("1");
    s.push(&[2], 0).expect("2");
    assert_eq!(s.pop(true), Ok(vec![2]));
    assert!(matches!(
        s.update(&k(0), &[0], 0),
        Err(MapError::NotSupported { .. })
    ));
}
