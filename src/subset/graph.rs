//! The reference graph behind a subset: which rows each table starts from
//! (its *driven* set) and which rows it must add so no kept row points at a
//! missing one (its *closure*).
//!
//! Two sets per table, both defined over the foreign keys (real ones and the
//! rules' `references:`):
//!
//! - **D, driven.** A root is sampled by a keyed hash of its key. Any other
//!   table *follows* one parent: each row follows the first of its ranked
//!   references that is set (all columns non-NULL) and is kept when that
//!   parent row is in the parent's D. Following one parent, not all of them,
//!   keeps proportions: an order item follows its order, and the products
//!   it names are pulled in by the closure instead of sampling the items a
//!   second time through products.
//! - **K, kept = D ∪ U.** U holds the rows some kept row references. Rows
//!   pulled in by U never drive their children, which is what stops a
//!   closure from running away.
//!
//! Nothing here touches SQL; `sql.rs` turns the graph into predicates.

use std::collections::BTreeSet;

use crate::catalog::{QualifiedName, TableKind};

/// A component of at most this many rows (pg_class estimate), referencing
/// only whole tables, is a reference table and copied whole.
pub const REFERENCE_ROWS: f64 = 1000.0;

/// A closed-over table referenced this many times its rows (by estimate)
/// is copied whole: uniform references leave about e^-3 = 5% of it out.
pub const SATURATED: f64 = 3.0;

/// A reference from `child.columns` to `parent.parent_columns`.
#[derive(Debug, Clone)]
pub struct Edge {
    pub child: usize,
    pub parent: usize,
    /// The constraint's name, or a description of a rules reference.
    pub name: String,
    pub columns: Vec<String>,
    pub parent_columns: Vec<String>,
    /// Every child column is NOT NULL, so the reference is always set.
    pub not_null: bool,
    /// Child columns the rules set to NULL when the parent row is not kept;
    /// such an edge never pulls its parent in.
    pub nulled: Vec<String>,
    /// `parent_columns` form a unique key of the parent (always true for a
    /// real foreign key).
    pub parent_unique: bool,
    /// A polymorphic `references:` entry's `when:`: SQL on the child row
    /// under which the reference points at this parent; on other rows it
    /// points at nothing, as if NULL.
    pub when: Option<String>,
    /// A foreign key the source enforces on every row (not `NOT VALID`,
    /// not a rules reference): a set reference always has its parent row.
    pub enforced: bool,
}

/// How a table's driven set is chosen.
#[derive(Debug, Clone, PartialEq)]
pub enum Mode {
    /// `skip: true`: no rows at all.
    Skip,
    /// Every row (the `where:` aside): `subset: all`, or a root when no
    /// fraction is asked for.
    All,
    /// Rows whose keyed hash falls under the fraction.
    Sample(f64),
    /// Each row follows the first set reference of `drivers` (edge indexes,
    /// best first); rows with none set are sampled at `fallback` (`None`:
    /// kept).
    Follow {
        drivers: Vec<usize>,
        fallback: Option<f64>,
    },
    /// Nothing of its own: only the rows kept rows reference (a table that
    /// would be sampled but drives nothing, such as a product catalogue
    /// named by order items).
    Closed,
}

/// A choice the rules pinned for one table.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Pin {
    None,
    /// Listed in `subset: { roots: [...] }`: sampled, and preferred as the
    /// driver of the tables below it.
    Root,
    /// `subset: { follow: constraint }`: follows this edge and no other.
    Follow(usize),
}

/// How a table's rows are told apart inside one query.
#[derive(Debug, Clone, PartialEq)]
pub enum Ident {
    /// A primary key, or a unique key whose columns are all NOT NULL.
    Columns(Vec<String>),
    /// No such key: the physical row address (with the partition's oid for
    /// a partitioned table), stable within the run's snapshot.
    Ctid,
}

/// Where a closure edge's child rows come from.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Contribution {
    pub edge: usize,
    /// Only the child's U rows need following: the edge is the child's
    /// first driver, so every driven child row's parent is already driven.
    pub from_u: bool,
}

/// One table of the graph.
#[derive(Debug, Clone)]
pub struct Node {
    pub name: QualifiedName,
    pub kind: TableKind,
    /// The rules' `where:`.
    pub filter: Option<String>,
    pub mode: Mode,
    /// `subset:` was written on this table.
    pub explicit: bool,
    /// A root or a followed reference the rules pinned.
    pub pin: Pin,
    /// A small reference table, copied whole and never driving.
    pub reference: bool,
    /// Its driving chain starts at a root the rules named.
    pub rooted: bool,
    /// Rows of the table its driving chain is sampled from; 0 when no
    /// table along it is sampled.
    pub root_rows: f64,
    /// Also sampled among the rows it follows (its chain samples nothing).
    pub own_sample: Option<f64>,
    /// The other members of the cycle this sampled table drives as a unit.
    pub unit: Vec<usize>,
    /// Closed over, but copied whole: kept rows are estimated to reference
    /// it this many times.
    pub saturated: Option<f64>,
    /// `max_per_parent:`.
    pub cap: Option<u64>,
    /// 0 for roots; one more than the deepest driver otherwise.
    pub level: usize,
    pub ident: Ident,
    /// The columns hashed for sampling; `None` hashes the whole row.
    pub hash_key: Option<Vec<String>>,
    /// D is every row, so nothing needs selecting and nothing is pulled in.
    pub complete: bool,
    /// Edges into this table that pull rows in.
    pub contributions: Vec<Contribution>,
    /// The recursive closure group this table belongs to, if any.
    pub group: Option<usize>,
    /// Rows in the source (pg_class estimate; 0 when unknown).
    pub est_rows: f64,
    /// The source has an estimate (the table was analyzed or vacuumed).
    pub est_known: bool,
    /// Estimated size of D and K.
    pub est_d: f64,
    pub est_k: f64,
    /// A lower bound of K: D, or one row when a kept child surely points
    /// at this table. Below one half, the table is expected to come out
    /// empty.
    pub est_min: f64,
}

/// Tables whose closure is mutually recursive: a cycle of references, or
/// one table referencing itself (a manager chain).
#[derive(Debug, Clone)]
pub struct Group {
    /// Node indexes, by name.
    pub members: Vec<usize>,
    /// Contributing edges between members.
    pub edges: Vec<usize>,
}

/// The whole graph, indexed like the plan's tables.
#[derive(Debug, Clone)]
pub struct Graph {
    pub nodes: Vec<Node>,
    pub edges: Vec<Edge>,
    pub groups: Vec<Group>,
    /// Each table's edges as the child and as the parent, so that nothing
    /// scans every edge once per table (quadratic at 50,000 tables).
    by_child: Vec<Vec<usize>>,
    by_parent: Vec<Vec<usize>>,
}

/// Everything `Graph::solve` needs besides nodes and edges.
pub struct Settings {
    /// The subset of root tables (`--subset` or the rules' default).
    pub fraction: Option<f64>,
}

impl Graph {
    /// Chooses every table's mode and drivers, finds which tables are
    /// complete, which edges pull rows in and which tables recurse, and
    /// estimates sizes. `nodes` come with `mode` set for skipped and
    /// explicit tables and `Mode::All` (undecided) for the rest.
    pub fn solve(nodes: Vec<Node>, edges: Vec<Edge>, settings: &Settings) -> Graph {
        let mut by_child = vec![Vec::new(); nodes.len()];
        let mut by_parent = vec![Vec::new(); nodes.len()];
        for (i, e) in edges.iter().enumerate() {
            by_child[e.child].push(i);
            by_parent[e.parent].push(i);
        }
        let mut g = Graph {
            nodes,
            edges,
            groups: Vec::new(),
            by_child,
            by_parent,
        };
        g.classify_references();
        let order = g.assign_drivers(settings);
        if settings.fraction.is_some() {
            g.close_unused_roots();
        }
        g.mark_complete(&order);
        let closure_order = g.find_contributions();
        g.estimate(&order, &closure_order);
        if g.saturate_closed() {
            for node in &mut g.nodes {
                node.group = None;
            }
            g.groups.clear();
            g.mark_complete(&order);
            let closure_order = g.find_contributions();
            g.estimate(&order, &closure_order);
        }
        g
    }

    /// A closed-over table that kept rows would reference about three
    /// times over (450,000 order items naming 50,000 products) would come
    /// out nearly whole anyway: it is copied whole, which spares the
    /// source a second pass over the referencing rows. The estimate only
    /// grows with the fraction, so a table whole at 10% is whole at 20%
    /// and the subsets stay nested.
    fn saturate_closed(&mut self) -> bool {
        let mut changed = false;
        for i in 0..self.nodes.len() {
            let node = &self.nodes[i];
            if node.mode != Mode::Closed || node.est_rows <= 0.0 {
                continue;
            }
            let references: f64 = node
                .contributions
                .iter()
                .map(|c| self.nodes[self.edges[c.edge].child].est_k)
                .sum();
            if references >= SATURATED * node.est_rows {
                self.nodes[i].mode = Mode::All;
                self.nodes[i].saturated = Some(references);
                changed = true;
            }
        }
        changed
    }

    /// The edges whose child is table `t` (its references), by index.
    pub fn edges_from(&self, t: usize) -> &[usize] {
        &self.by_child[t]
    }

    /// The edges whose parent is table `t` (references to it), by index.
    pub fn edges_to(&self, t: usize) -> &[usize] {
        &self.by_parent[t]
    }

    /// True when a subset is in effect: some table keeps fewer than all
    /// of its rows, or a reference is set to NULL (its parent is skipped
    /// or partial).
    pub fn is_partial(&self) -> bool {
        self.nodes
            .iter()
            .any(|n| !n.complete && n.mode != Mode::Skip)
            || self
                .edges
                .iter()
                .any(|e| !e.nulled.is_empty() && !self.nodes[e.parent].complete)
    }

    /// Can `e` drive its child? A pinned `follow:` alone, else a reference
    /// to another table that has rows to give and is not a reference table
    /// or a table the rules copy whole.
    fn drives(&self, index: usize, undecided: &[bool]) -> bool {
        let e = &self.edges[index];
        let (child, parent) = (&self.nodes[e.child], &self.nodes[e.parent]);
        if !undecided[e.child] {
            return false;
        }
        if let Pin::Follow(pinned) = child.pin {
            return index == pinned;
        }
        // A reference table with a `where:` drives: the filter flows down
        // to the rows that reference it (the tenants a SaaS copy keeps).
        e.child != e.parent
            && parent.mode != Mode::Skip
            && !(parent.reference && parent.filter.is_none())
            && !(parent.explicit && parent.mode == Mode::All)
    }

    /// Marks the small reference tables: lookups such as languages,
    /// currencies or statuses, and small tables many rows point at (the
    /// stores of a shop, the tenants of a SaaS). A component of the
    /// reference graph (one table, or a cycle such as store <-> staff) is
    /// one when the rules pin nothing in it, its estimate is known and at
    /// most `REFERENCE_ROWS` in all, and it is referenced by another table
    /// or references none. Copying it whole costs nothing, while sampling
    /// it would leave a handful of rows (or none) to drive everything
    /// below; what it references is pulled in, at most its own row count.
    /// A small table that only references others (a short list of VIP
    /// customers) is not one: it follows them. The test never looks at the
    /// fraction, so 10% and 20% classify alike and stay nested.
    fn classify_references(&mut self) {
        let n = self.nodes.len();
        let mut adjacency = vec![Vec::new(); n];
        for e in &self.edges {
            if e.child != e.parent && e.nulled.is_empty() {
                adjacency[e.child].push(e.parent);
            }
        }
        // A component looks at its own edges only (a scan of every edge
        // per component cost seconds with ten thousand tables).
        for component in strongly_connected(&adjacency) {
            let members: BTreeSet<usize> = component.iter().copied().collect();
            let free = component.iter().all(|&m| {
                let x = &self.nodes[m];
                !x.explicit && x.pin == Pin::None && x.mode != Mode::Skip && x.est_known
            });
            let rows: f64 = component.iter().map(|&m| self.nodes[m].est_rows).sum();
            let referenced = component.iter().flat_map(|&m| self.edges_to(m)).any(|&e| {
                let e = &self.edges[e];
                !members.contains(&e.child) && self.nodes[e.child].mode != Mode::Skip
            });
            let references = component
                .iter()
                .flat_map(|&m| self.edges_from(m))
                .any(|&e| !members.contains(&self.edges[e].parent));
            if free && rows <= REFERENCE_ROWS && (referenced || !references) {
                for &m in &component {
                    self.nodes[m].reference = true;
                    self.nodes[m].mode = Mode::All;
                }
            }
        }
    }

    /// A table sampled only because nothing drives it, which drives
    /// nothing itself and is always referenced by some other table, keeps
    /// just the rows referenced: a product catalogue is closed over from
    /// the order items, not sampled on its own.
    fn close_unused_roots(&mut self) {
        let mut used = vec![false; self.nodes.len()];
        for node in &self.nodes {
            if let Mode::Follow { drivers, .. } = &node.mode {
                for &d in drivers {
                    used[self.edges[d].parent] = true;
                    if self.edges[d].not_null {
                        break;
                    }
                }
            }
        }
        for (i, &used) in used.iter().enumerate() {
            let node = &self.nodes[i];
            let default_root = matches!(node.mode, Mode::Sample(_))
                && !node.explicit
                && node.pin == Pin::None
                && node.filter.is_none()
                && node.unit.is_empty();
            let pulled = self.edges_to(i).iter().map(|&e| &self.edges[e]).any(|e| {
                e.child != i
                    && e.not_null
                    && e.nulled.is_empty()
                    && self.nodes[e.child].mode != Mode::Skip
            });
            if default_root && !used && pulled {
                self.nodes[i].mode = Mode::Closed;
            }
        }
    }

    /// Decides the mode of every table not set by the rules, parents
    /// before children. Returns the order decided in (drivers come first).
    fn assign_drivers(&mut self, settings: &Settings) -> Vec<usize> {
        let n = self.nodes.len();
        let undecided: Vec<bool> = self
            .nodes
            .iter()
            .map(|n| !n.explicit && n.mode != Mode::Skip && !n.reference && n.pin != Pin::Root)
            .collect();
        let mut decided = vec![false; n];
        let mut order = Vec::new();
        for i in 0..n {
            if !undecided[i] {
                decided[i] = true;
                self.nodes[i].level = 0;
                order.push(i);
            }
        }
        // The edges that can drive each table, as its child.
        let mut driving: Vec<Vec<usize>> = vec![Vec::new(); n];
        let mut adjacency = vec![Vec::new(); n];
        for e in (0..self.edges.len()).filter(|&e| self.drives(e, &undecided)) {
            let edge = &self.edges[e];
            driving[edge.child].push(e);
            if undecided[edge.parent] {
                adjacency[edge.child].push(edge.parent);
            }
        }
        let root_mode = || match settings.fraction {
            Some(f) => Mode::Sample(f),
            None => Mode::All,
        };
        for i in 0..n {
            if matches!(self.nodes[i].mode, Mode::Sample(_)) {
                self.nodes[i].root_rows = self.nodes[i].est_rows;
            }
            if self.nodes[i].pin == Pin::Root {
                self.nodes[i].root_rows = self.nodes[i].est_rows;
                self.nodes[i].mode = root_mode();
                self.nodes[i].rooted = true;
            }
        }
        // Tarjan emits a component after every component it references, so
        // parents come first.
        for mut component in strongly_connected(&adjacency) {
            component.retain(|&i| undecided[i]);
            component.sort_by(|a, b| self.nodes[*a].name.cmp(&self.nodes[*b].name));
            if component.is_empty() {
                continue;
            }
            let members: BTreeSet<usize> = component.iter().copied().collect();
            // Members referencing decided tables outside the component
            // follow those; a component with none (a root, or a cycle
            // nothing leads into) starts from its first table by name.
            let mut round: Vec<(usize, Vec<usize>)> = Vec::new();
            for &m in &component {
                let drivers: Vec<usize> = driving[m]
                    .iter()
                    .copied()
                    .filter(|&e| {
                        let edge = &self.edges[e];
                        !members.contains(&edge.parent) && decided[edge.parent]
                    })
                    .collect();
                if !drivers.is_empty() {
                    round.push((m, drivers));
                }
            }
            if round.is_empty() {
                // A root, or a cycle nothing leads into: sampled as a unit
                // from its largest table, which keeps its share nearest
                // the fraction; the others follow it inside the cycle.
                let first = *component
                    .iter()
                    .max_by(|a, b| {
                        let (x, y) = (&self.nodes[**a], &self.nodes[**b]);
                        x.est_rows.total_cmp(&y.est_rows).then(y.name.cmp(&x.name))
                    })
                    .expect("component is not empty");
                self.nodes[first].mode = root_mode();
                self.nodes[first].root_rows = self.nodes[first].est_rows;
                self.nodes[first].level = 0;
                self.nodes[first].unit =
                    component.iter().copied().filter(|&m| m != first).collect();
                decided[first] = true;
                order.push(first);
            }
            loop {
                if round.is_empty() {
                    // Inside a cycle: members referencing members decided in
                    // an earlier round follow them.
                    for &m in &component {
                        if decided[m] {
                            continue;
                        }
                        let drivers: Vec<usize> = driving[m]
                            .iter()
                            .copied()
                            .filter(|&e| {
                                let edge = &self.edges[e];
                                members.contains(&edge.parent) && decided[edge.parent]
                            })
                            .collect();
                        if !drivers.is_empty() {
                            round.push((m, drivers));
                        }
                    }
                }
                if round.is_empty() {
                    break;
                }
                for (m, mut drivers) in std::mem::take(&mut round) {
                    self.rank(&mut drivers);
                    let level = drivers
                        .iter()
                        .map(|&e| self.nodes[self.edges[e].parent].level)
                        .max()
                        .unwrap_or(0)
                        + 1;
                    let fallback = settings.fraction;
                    let first = &self.nodes[self.edges[drivers[0]].parent];
                    let (rooted, mut root_rows) = (first.rooted, first.root_rows);
                    let node = &mut self.nodes[m];
                    // Following a chain nothing samples (a filtered
                    // reference table): this table samples its own rows
                    // among those it follows, so the share still holds.
                    let mut fallback = fallback;
                    if root_rows == 0.0 {
                        if let Some(f) = settings.fraction {
                            node.own_sample = Some(f);
                            root_rows = node.est_rows;
                            // Rows with no reference set are sampled once,
                            // by the same own sample.
                            fallback = None;
                        }
                    }
                    node.mode = Mode::Follow { drivers, fallback };
                    node.level = level;
                    node.rooted = rooted;
                    node.root_rows = root_rows;
                    decided[m] = true;
                    order.push(m);
                }
            }
            debug_assert!(component.iter().all(|&m| decided[m]));
        }
        order
    }

    /// Ranks a table's drivers, best first: a chain from a root the rules
    /// named; then the chain sampled from the most rows (a rental follows
    /// its customer, sampled from 20,000 people, rather than its copy of a
    /// film, sampled from 5,000 titles: more, smaller draws land nearer the
    /// fraction, and people are what a developer browses by); then the
    /// deepest parent (an order item belongs to its order more than to
    /// anything else sampled from as many rows); then a reference that is
    /// always set; then by name so the choice never varies.
    fn rank(&self, drivers: &mut [usize]) {
        drivers.sort_by(|&a, &b| {
            let (ea, eb) = (&self.edges[a], &self.edges[b]);
            let (pa, pb) = (&self.nodes[ea.parent], &self.nodes[eb.parent]);
            pb.rooted
                .cmp(&pa.rooted)
                .then(pb.root_rows.total_cmp(&pa.root_rows))
                .then(pb.level.cmp(&pa.level))
                .then(eb.not_null.cmp(&ea.not_null))
                .then(ea.name.cmp(&eb.name))
                .then(pa.name.cmp(&pb.name))
        });
    }

    /// A table is complete when its D is every row: copied whole, or
    /// following only complete parents with nothing held back.
    fn mark_complete(&mut self, order: &[usize]) {
        for &i in order {
            let node = &self.nodes[i];
            let complete = node.filter.is_none()
                && match &node.mode {
                    Mode::Skip | Mode::Sample(_) | Mode::Closed => false,
                    Mode::All => true,
                    Mode::Follow { drivers, fallback } => {
                        node.cap.is_none()
                            && node.own_sample.is_none()
                            && fallback.is_none()
                            && drivers
                                .iter()
                                .all(|&e| self.nodes[self.edges[e].parent].complete)
                    }
                };
            self.nodes[i].complete = complete;
        }
    }

    /// Which edges pull parent rows in, and the recursive groups. Returns
    /// the tables children first (the order U can be computed in).
    fn find_contributions(&mut self) -> Vec<usize> {
        let n = self.nodes.len();
        let pulls_edge = |e: usize| {
            let edge = &self.edges[e];
            let (child, parent) = (&self.nodes[edge.child], &self.nodes[edge.parent]);
            child.mode != Mode::Skip
                && parent.mode != Mode::Skip
                && !parent.complete
                && edge.nulled.is_empty()
        };
        // The pulling edges of each table, as the child and as the parent.
        let mut pulls_from = vec![Vec::new(); n];
        let mut pulls_into = vec![Vec::new(); n];
        let mut adjacency = vec![Vec::new(); n];
        for e in (0..self.edges.len()).filter(|&e| pulls_edge(e)) {
            let edge = &self.edges[e];
            pulls_from[edge.child].push(e);
            pulls_into[edge.parent].push(e);
            adjacency[edge.child].push(edge.parent);
        }
        let components = strongly_connected(&adjacency);
        for component in &components {
            let members: BTreeSet<usize> = component.iter().copied().collect();
            let mut internal: Vec<usize> = component
                .iter()
                .flat_map(|&m| &pulls_from[m])
                .copied()
                .filter(|&e| members.contains(&self.edges[e].parent))
                .collect();
            // In edge order, as a scan of every edge gave them.
            internal.sort_unstable();
            if internal.is_empty() {
                continue;
            }
            let mut sorted = component.clone();
            sorted.sort_by(|a, b| self.nodes[*a].name.cmp(&self.nodes[*b].name));
            for &m in &sorted {
                self.nodes[m].group = Some(self.groups.len());
            }
            self.groups.push(Group {
                members: sorted,
                edges: internal,
            });
        }
        // Children first: Tarjan gave parents first.
        let children_first: Vec<usize> = components.iter().rev().flatten().copied().collect();
        for &t in &children_first {
            let mut contributions = Vec::new();
            for &e in &pulls_into[t] {
                let c = self.edges[e].child;
                let first_driver = match &self.nodes[c].mode {
                    Mode::Follow { drivers, .. } => drivers.first() == Some(&e),
                    _ => false,
                };
                if first_driver && self.nodes[c].group.is_none() {
                    // Driven child rows already point at driven parents;
                    // only the child's pulled-in rows can add parents.
                    if !self.nodes[c].contributions.is_empty() {
                        contributions.push(Contribution {
                            edge: e,
                            from_u: true,
                        });
                    }
                } else {
                    contributions.push(Contribution {
                        edge: e,
                        from_u: false,
                    });
                }
            }
            self.nodes[t].contributions = contributions;
        }
        children_first
    }

    /// Sizes from the pg_class estimates, for `--dry-run` and progress:
    /// D scaled by the fraction along the drivers, K as D plus what the
    /// contributing children could reference, capped at the table's rows.
    fn estimate(&mut self, order: &[usize], children_first: &[usize]) {
        for &i in order {
            let rows = self.nodes[i].est_rows;
            let d = match &self.nodes[i].mode {
                Mode::Skip | Mode::Closed => 0.0,
                Mode::All => rows,
                Mode::Sample(f) => rows * f,
                Mode::Follow { drivers, .. } => {
                    let e = &self.edges[drivers[0]];
                    let parent = &self.nodes[e.parent];
                    let share = if parent.est_rows > 0.0 {
                        (parent.est_d / parent.est_rows).min(1.0)
                    } else {
                        1.0
                    };
                    let d = rows * share * self.nodes[i].own_sample.unwrap_or(1.0);
                    match self.nodes[i].cap {
                        Some(cap) => d.min(cap as f64 * parent.est_d),
                        None => d,
                    }
                }
            };
            self.nodes[i].est_d = d;
        }
        for &i in children_first {
            let node = &self.nodes[i];
            let k = if node.complete {
                node.est_rows
            } else {
                let pulled: f64 = node
                    .contributions
                    .iter()
                    .map(|c| {
                        let child = &self.nodes[self.edges[c.edge].child];
                        // Inside a recursive group the child's K is not known
                        // yet; its D is the best guess.
                        let k = if child.group.is_some() && child.group == node.group {
                            child.est_d
                        } else {
                            child.est_k
                        };
                        if c.from_u {
                            (k - child.est_d).max(0.0)
                        } else {
                            k
                        }
                    })
                    .sum();
                (node.est_d + pulled).min(node.est_rows)
            };
            self.nodes[i].est_k = k;
            let node = &self.nodes[i];
            let sure = node
                .contributions
                .iter()
                .filter(|c| !c.from_u && self.edges[c.edge].not_null)
                .map(|c| self.nodes[self.edges[c.edge].child].est_min.min(1.0))
                .fold(0.0, f64::max);
            let floor = if node.complete {
                node.est_rows
            } else {
                node.est_d
            };
            self.nodes[i].est_min = floor.max(sure);
        }
    }
}

/// Tarjan's strongly connected components of a directed graph, iteratively
/// (a long chain of tables must not overflow the stack). A component is
/// emitted after every component reachable from it.
pub fn strongly_connected(adjacency: &[Vec<usize>]) -> Vec<Vec<usize>> {
    let n = adjacency.len();
    let mut index = vec![usize::MAX; n];
    let mut low = vec![0; n];
    let mut on_stack = vec![false; n];
    let mut stack = Vec::new();
    let mut out = Vec::new();
    let mut next = 0;
    for start in 0..n {
        if index[start] != usize::MAX {
            continue;
        }
        // (node, next neighbour to look at)
        let mut work = vec![(start, 0usize)];
        index[start] = next;
        low[start] = next;
        next += 1;
        stack.push(start);
        on_stack[start] = true;
        while let Some(&mut (v, ref mut i)) = work.last_mut() {
            if let Some(&w) = adjacency[v].get(*i) {
                *i += 1;
                if index[w] == usize::MAX {
                    index[w] = next;
                    low[w] = next;
                    next += 1;
                    stack.push(w);
                    on_stack[w] = true;
                    work.push((w, 0));
                } else if on_stack[w] {
                    low[v] = low[v].min(index[w]);
                }
                continue;
            }
            work.pop();
            if let Some(&(parent, _)) = work.last() {
                low[parent] = low[parent].min(low[v]);
            }
            if low[v] == index[v] {
                let mut component = Vec::new();
                while let Some(w) = stack.pop() {
                    on_stack[w] = false;
                    component.push(w);
                    if w == v {
                        break;
                    }
                }
                out.push(component);
            }
        }
    }
    out
}

#[cfg(test)]
pub(super) mod tests {
    use super::*;

    fn node(name: &str, rows: f64) -> Node {
        Node {
            name: QualifiedName::new("public", name),
            kind: TableKind::Ordinary,
            filter: None,
            mode: Mode::All,
            explicit: false,
            pin: Pin::None,
            reference: false,
            rooted: false,
            root_rows: 0.0,
            own_sample: None,
            unit: Vec::new(),
            saturated: None,
            cap: None,
            level: 0,
            ident: Ident::Columns(vec!["id".into()]),
            hash_key: Some(vec!["id".into()]),
            complete: false,
            contributions: Vec::new(),
            group: None,
            est_rows: rows,
            est_known: true,
            est_d: 0.0,
            est_k: 0.0,
            est_min: 0.0,
        }
    }

    fn edge(child: usize, parent: usize, column: &str, not_null: bool) -> Edge {
        Edge {
            when: None,
            child,
            parent,
            name: format!("fk_{column}"),
            columns: vec![column.into()],
            parent_columns: vec!["id".into()],
            not_null,
            nulled: Vec::new(),
            parent_unique: true,
            enforced: true,
        }
    }

    /// The bench's shape: customers ← addresses, customers ← orders ←
    /// order_items → products, employees → employees.
    pub(in crate::subset) fn shop(fraction: Option<f64>) -> Graph {
        let nodes = vec![
            node("customers", 100_000.0),
            node("addresses", 150_000.0),
            node("orders", 300_000.0),
            node("order_items", 900_000.0),
            node("products", 50_000.0),
            node("employees", 2_000.0),
        ];
        let edges = vec![
            edge(1, 0, "customer_id", true),
            edge(2, 0, "customer_id", true),
            edge(3, 2, "order_id", true),
            edge(3, 4, "product_id", true),
            edge(5, 5, "manager_id", false),
        ];
        Graph::solve(nodes, edges, &Settings { fraction })
    }

    #[test]
    fn an_item_follows_its_order_and_closes_over_its_product() {
        let g = shop(Some(0.1));
        assert_eq!(g.nodes[0].mode, Mode::Sample(0.1));
        // Products drive nothing (items follow their orders) and every item
        // names one: they keep just the rows the items reference.
        assert_eq!(g.nodes[4].mode, Mode::Closed);
        assert_eq!(g.nodes[5].mode, Mode::Sample(0.1));
        assert_eq!(
            g.nodes[3].mode,
            Mode::Follow {
                drivers: vec![2, 3],
                fallback: Some(0.1)
            }
        );
        assert_eq!(g.nodes[3].level, 2);
        // Only products and the manager chain pull rows in; customers and
        // orders are closed already by construction.
        let pulls: Vec<(usize, Vec<Contribution>)> = g
            .nodes
            .iter()
            .enumerate()
            .filter(|(_, n)| !n.contributions.is_empty())
            .map(|(i, n)| (i, n.contributions.clone()))
            .collect();
        assert_eq!(
            pulls,
            vec![
                (
                    4,
                    vec![Contribution {
                        edge: 3,
                        from_u: false
                    }]
                ),
                (
                    5,
                    vec![Contribution {
                        edge: 4,
                        from_u: false
                    }]
                ),
            ]
        );
        assert_eq!(g.groups.len(), 1);
        assert_eq!(g.groups[0].members, vec![5]);
        assert_eq!(g.nodes[0].est_k, 10_000.0);
        assert_eq!(g.nodes[3].est_k, 90_000.0);
        assert_eq!(g.nodes[4].est_k, 50_000.0);
    }

    #[test]
    fn a_closed_table_referenced_three_times_over_is_copied_whole() {
        let nodes = || {
            vec![
                node("customers", 100_000.0),
                node("orders", 300_000.0),
                node("products", 10_000.0),
            ]
        };
        let edges = || {
            vec![
                edge(1, 0, "customer_id", true),
                edge(1, 2, "product_id", true),
            ]
        };
        let g = tenth(nodes(), edges());
        // 30,000 kept orders name 10,000 products three times over.
        assert_eq!(g.nodes[2].mode, Mode::All);
        assert_eq!(g.nodes[2].saturated, Some(30_000.0));
        assert!(g.nodes[2].complete && g.nodes[2].contributions.is_empty());
        // At 5%, 15,000 references leave a good part out: closed over.
        let g = Graph::solve(
            nodes(),
            edges(),
            &Settings {
                fraction: Some(0.05),
            },
        );
        assert_eq!(g.nodes[2].mode, Mode::Closed);
    }

    #[test]
    fn without_a_fraction_everything_is_complete() {
        let g = shop(None);
        assert!(!g.is_partial());
        assert!(g.nodes.iter().all(|n| n.contributions.is_empty()));
    }

    #[test]
    fn a_filter_follows_down_but_not_up() {
        let mut nodes = vec![node("customers", 10.0), node("orders", 10.0)];
        nodes[1].filter = Some("total > 0".into());
        nodes.push(node("order_items", 10.0));
        let edges = vec![
            edge(1, 0, "customer_id", true),
            edge(2, 1, "order_id", true),
        ];
        let g = Graph::solve(nodes, edges, &Settings { fraction: None });
        assert!(g.nodes[0].complete);
        assert!(!g.nodes[1].complete);
        assert!(!g.nodes[2].complete, "items follow the filtered orders");
    }

    fn tenth(nodes: Vec<Node>, edges: Vec<Edge>) -> Graph {
        Graph::solve(
            nodes,
            edges,
            &Settings {
                fraction: Some(0.1),
            },
        )
    }

    #[test]
    fn a_cycle_nothing_leads_into_is_sampled_as_a_unit_from_its_largest_table() {
        let nodes = vec![node("b", 5_000.0), node("a", 3_000.0)];
        let edges = vec![edge(0, 1, "a_id", false), edge(1, 0, "b_id", false)];
        let g = tenth(nodes, edges);
        assert_eq!(g.nodes[0].mode, Mode::Sample(0.1));
        assert_eq!(g.nodes[0].unit, vec![1]);
        assert_eq!(
            g.nodes[1].mode,
            Mode::Follow {
                drivers: vec![1],
                fallback: Some(0.1)
            }
        );
        assert_eq!(g.groups.len(), 1);
        assert_eq!(g.groups[0].members, vec![1, 0]);
    }

    /// The rental shop of issue 12: lookups and a tiny store<->staff cycle
    /// once became the roots, so 10% of them kept nothing below.
    #[test]
    fn lookups_and_a_tiny_cycle_are_whole_and_drive_nothing() {
        let nodes = vec![
            node("language", 6.0),
            node("film", 5_000.0),
            node("store", 2.0),
            node("staff", 2.0),
            node("customer", 20_000.0),
            node("rental", 300_000.0),
            node("inventory", 20_000.0),
        ];
        let edges = vec![
            edge(1, 0, "language_id", true),
            edge(2, 3, "manager_staff_id", true),
            edge(3, 2, "store_id", true),
            edge(4, 2, "store_id", true),
            edge(5, 4, "customer_id", true),
            edge(5, 3, "staff_id", true),
            edge(5, 6, "inventory_id", true),
            edge(6, 1, "film_id", true),
            edge(6, 2, "store_id", true),
        ];
        let g = tenth(nodes, edges);
        for t in [0, 2, 3] {
            assert!(g.nodes[t].reference && g.nodes[t].complete, "{t}");
        }
        // Rentals follow customers (sampled from 20,000 rows) rather than
        // inventory (following films, sampled from 5,000); inventory then
        // keeps the copies kept rentals name, and films the titles those
        // copies hold.
        assert_eq!(g.nodes[4].mode, Mode::Sample(0.1));
        assert_eq!(
            g.nodes[5].mode,
            Mode::Follow {
                drivers: vec![4, 6],
                fallback: Some(0.1)
            }
        );
        assert_eq!(
            g.nodes[6].mode,
            Mode::Follow {
                drivers: vec![7],
                fallback: Some(0.1)
            }
        );
        assert_eq!(g.nodes[1].mode, Mode::Sample(0.1));
        assert!((g.nodes[5].est_d - 30_000.0).abs() < 1.0);
    }

    #[test]
    fn a_named_root_drives_before_a_deeper_parent() {
        let nodes = vec![
            node("film", 5_000.0),
            node("inventory", 20_000.0),
            node("customer", 20_000.0),
            node("rental", 300_000.0),
        ];
        let edges = vec![
            edge(1, 0, "film_id", true),
            edge(3, 1, "inventory_id", true),
            edge(3, 2, "customer_id", true),
        ];
        // Unpinned, rentals follow customers: sampled from more rows than
        // the films behind inventory.
        let g = tenth(nodes.clone(), edges.clone());
        assert_eq!(
            g.nodes[3].mode,
            Mode::Follow {
                drivers: vec![2, 1],
                fallback: Some(0.1)
            }
        );
        // Naming film a root makes its chain drive rentals.
        let mut pinned = nodes.clone();
        pinned[0].pin = Pin::Root;
        let g = tenth(pinned, edges.clone());
        assert_eq!(
            g.nodes[3].mode,
            Mode::Follow {
                drivers: vec![1, 2],
                fallback: Some(0.1)
            }
        );
        assert_eq!(g.nodes[2].mode, Mode::Closed);
        // A pinned follow wins over the ranking.
        let mut follow = nodes;
        follow[3].pin = Pin::Follow(1);
        let g = tenth(follow, edges);
        assert_eq!(
            g.nodes[3].mode,
            Mode::Follow {
                drivers: vec![1],
                fallback: Some(0.1)
            }
        );
    }

    #[test]
    fn a_lookup_table_copied_whole_drives_nothing() {
        let mut nodes = vec![node("countries", 10_000.0), node("customers", 10_000.0)];
        nodes[0].explicit = true;
        let edges = vec![edge(1, 0, "country_id", true)];
        let g = tenth(nodes, edges);
        assert_eq!(g.nodes[1].mode, Mode::Sample(0.1));
        assert!(g.nodes[0].complete);
        assert!(g.nodes[0].contributions.is_empty());
    }

    #[test]
    fn a_filtered_reference_drives_and_its_followers_sample_themselves() {
        // tenants (where: id <= 20) <- users <- projects
        let mut nodes = vec![
            node("tenants", 40.0),
            node("users", 8_000.0),
            node("projects", 4_000.0),
        ];
        nodes[0].filter = Some("id <= 20".into());
        let edges = vec![
            edge(1, 0, "tenant_id", true),
            edge(2, 0, "tenant_id", true),
            edge(2, 1, "owner_id", true),
        ];
        let g = tenth(nodes, edges);
        assert!(g.nodes[0].reference && !g.nodes[0].complete);
        assert_eq!(
            g.nodes[1].mode,
            Mode::Follow {
                drivers: vec![0],
                fallback: None
            }
        );
        assert_eq!(g.nodes[1].own_sample, Some(0.1));
        // Projects follow their owner (a sampled chain) before the tenant.
        assert_eq!(
            g.nodes[2].mode,
            Mode::Follow {
                drivers: vec![2, 1],
                fallback: Some(0.1)
            }
        );
        assert_eq!(g.nodes[2].own_sample, None);
    }

    #[test]
    fn unknown_sizes_and_small_tables_that_only_reference_are_not_references() {
        let mut nodes = vec![node("status", 5.0), node("tickets", 10_000.0)];
        nodes[0].est_known = false;
        let g = tenth(nodes, vec![edge(1, 0, "status_id", true)]);
        assert!(!g.nodes[0].reference);
        let nodes = vec![node("customers", 10_000.0), node("vip", 50.0)];
        let g = tenth(nodes, vec![edge(1, 0, "customer_id", true)]);
        assert!(!g.nodes[1].reference);
        assert!(matches!(g.nodes[1].mode, Mode::Follow { .. }));
    }

    #[test]
    fn a_nulled_reference_pulls_nothing() {
        let nodes = vec![node("employees", 10.0)];
        let mut e = edge(0, 0, "manager_id", false);
        e.nulled = vec!["manager_id".into()];
        let g = Graph::solve(
            nodes,
            vec![e],
            &Settings {
                fraction: Some(0.1),
            },
        );
        assert!(g.groups.is_empty());
        assert!(g.nodes[0].contributions.is_empty());
    }

    #[test]
    fn components_come_parents_first() {
        // 0 -> 1 -> 2 -> 1, 3 alone
        let adjacency = vec![vec![1], vec![2], vec![1], vec![]];
        let mut out = strongly_connected(&adjacency);
        for c in &mut out {
            c.sort();
        }
        assert_eq!(out, vec![vec![1, 2], vec![0], vec![3]]);
    }
}
