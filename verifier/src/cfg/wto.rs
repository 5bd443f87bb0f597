//! Weak topological order (Bourdoncle, 1993): the order the fixpoint iterates in, and the loop
//! heads where it widens.
//!
//! A WTO is a sequence of components; a component is a vertex or a cycle `(head, components)`.
//! Iterating in this order reaches every block after all its forward predecessors, and stabilising
//! each cycle at its head is enough for the whole cycle. The algorithm is Bourdoncle's recursive
//! one run on an explicit task stack, so a program with a million blocks cannot overflow the
//! thread's stack.

use petgraph::graph::{DiGraph, NodeIndex};

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Component {
    Vertex(NodeIndex),
    Cycle(NodeIndex, Vec<Component>),
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Wto {
    pub components: Vec<Component>,
}

enum Task {
    Visit {
        v: NodeIndex,
        next: usize,
        head: u32,
        is_loop: bool,
        partition: usize,
        started: bool,
    },
    Component {
        v: NodeIndex,
        next: usize,
        outer: usize,
        inner: usize,
        head: u32,
    },
}

const DONE: u32 = u32::MAX;

impl Wto {
    /// The WTO of the part of `graph` reachable from `entry`.
    pub fn new<N, E>(graph: &DiGraph<N, E>, entry: NodeIndex) -> Wto {
        let succs: Vec<Vec<NodeIndex>> = graph
            .node_indices()
            .map(|n| {
                // petgraph lists successors newest edge first; reverse for program order.
                let mut s: Vec<NodeIndex> = graph.neighbors(n).collect();
                s.reverse();
                s
            })
            .collect();
        let mut dfn = vec![0u32; graph.node_count()];
        let mut stack: Vec<NodeIndex> = Vec::new();
        let mut num = 0u32;
        let mut partitions: Vec<Vec<Component>> = vec![Vec::new()];
        let mut tasks = vec![Task::Visit {
            v: entry,
            next: 0,
            head: 0,
            is_loop: false,
            partition: 0,
            started: false,
        }];
        let mut ret: Option<u32> = None;
        while let Some(task) = tasks.last_mut() {
            match task {
                Task::Visit {
                    v,
                    next,
                    head,
                    is_loop,
                    partition,
                    started,
                } => {
                    let v = *v;
                    if !*started {
                        *started = true;
                        stack.push(v);
                        num += 1;
                        dfn[v.index()] = num;
                        *head = num;
                    }
                    if let Some(min) = ret.take()
                        && min <= *head
                    {
                        *head = min;
                        *is_loop = true;
                    }
                    if let Some(&w) = succs[v.index()].get(*next) {
                        *next += 1;
                        if dfn[w.index()] == 0 {
                            let partition = *partition;
                            tasks.push(Task::Visit {
                                v: w,
                                next: 0,
                                head: 0,
                                is_loop: false,
                                partition,
                                started: false,
                            });
                        } else if dfn[w.index()] <= *head {
                            *head = dfn[w.index()];
                            *is_loop = true;
                        }
                        continue;
                    }
                    let (head, is_loop, partition) = (*head, *is_loop, *partition);
                    tasks.pop();
                    if head != dfn[v.index()] {
                        ret = Some(head);
                        continue;
                    }
                    dfn[v.index()] = DONE;
                    let mut element = stack.pop();
                    if is_loop {
                        while let Some(e) = element
                            && e != v
                        {
                            dfn[e.index()] = 0;
                            element = stack.pop();
                        }
                        partitions.push(Vec::new());
                        let inner = partitions.len() - 1;
                        tasks.push(Task::Component {
                            v,
                            next: 0,
                            outer: partition,
                            inner,
                            head,
                        });
                    } else {
                        partitions[partition].push(Component::Vertex(v));
                        ret = Some(head);
                    }
                }
                Task::Component {
                    v,
                    next,
                    outer,
                    inner,
                    head,
                } => {
                    ret = None;
                    let v = *v;
                    if let Some(&w) = succs[v.index()].get(*next) {
                        *next += 1;
                        if dfn[w.index()] == 0 {
                            let inner = *inner;
                            tasks.push(Task::Visit {
                                v: w,
                                next: 0,
                                head: 0,
                                is_loop: false,
                                partition: inner,
                                started: false,
                            });
                        }
                        continue;
                    }
                    let (outer, inner, head) = (*outer, *inner, *head);
                    tasks.pop();
                    let mut body = std::mem::take(&mut partitions[inner]);
                    body.reverse();
                    partitions[outer].push(Component::Cycle(v, body));
                    ret = Some(head);
                }
            }
        }
        let mut components = std::mem::take(&mut partitions[0]);
        components.reverse();
        Wto { components }
    }

    /// Loop heads, outermost first.
    pub fn heads(&self) -> Vec<NodeIndex> {
        fn walk(c: &[Component], out: &mut Vec<NodeIndex>) {
            for x in c {
                if let Component::Cycle(h, body) = x {
                    out.push(*h);
                    walk(body, out);
                }
            }
        }
        let mut out = Vec::new();
        walk(&self.components, &mut out);
        out
    }
}
