//! The byte budget of one page of messages.
//!
//! A page's row count is bounded by its `limit`, but a row can be 1.2 MB of
//! JSON (200,000 control characters escape to six bytes each), so a count
//! alone does not bound what the gateway holds in memory for one answer.
//! Every store stops a page before the row that would take its encoded rows
//! past the budget; the caller continues with an `after_id` cursor.

use crate::MessageRef;

/// Default byte budget of a `GET /messages` page: 4 MiB of encoded rows.
pub const PAGE_BYTES_DEFAULT: usize = 4 << 20;

/// Counts the encoded size of a page's rows as a store reads them.
///
/// The size of a page is that of its rows as [`crate::MessageListWriter`]
/// writes them, separating commas included (the list's head and `n` field
/// are not counted). The first row is always admitted, so a page never
/// comes back empty while rows match: a single row larger than the budget
/// is still delivered, alone.
#[derive(Debug, Clone)]
pub struct PageBudget {
    max: usize,
    used: usize,
    rows: usize,
}

impl PageBudget {
    /// A budget of `max_bytes` (0: unlimited).
    pub fn new(max_bytes: usize) -> Self {
        PageBudget { max: max_bytes, used: 0, rows: 0 }
    }

    /// Whether `m` still fits; counts it when it does. Once a row does not
    /// fit the page is over: the caller stops reading (later, smaller rows
    /// are not taken, so the page stays a contiguous run of ids).
    pub fn admit(&mut self, m: &MessageRef<'_>) -> bool {
        let size = m.json_len() + usize::from(self.rows > 0);
        if self.max != 0 && self.rows > 0 && self.used.saturating_add(size) > self.max {
            return false;
        }
        self.used = self.used.saturating_add(size);
        self.rows += 1;
        true
    }

    /// Encoded bytes of the rows admitted so far.
    pub fn used(&self) -> usize {
        self.used
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Kind, Message, MessageListWriter};

    fn msg(id: i64, content: &str) -> Message {
        Message {
            id,
            from_node: "a1".into(),
            to_node: "b1".into(),
            kind: Kind::Fyi,
            content: content.into(),
            created_at: "2026-01-01T00:00:00.000001+00:00".into(),
            read_at: None,
            thread_id: None,
            related_task_id: None,
            owed: false,
            sender_verified: false,
        }
    }

    #[test]
    fn a_page_stops_before_the_row_that_crosses_the_budget() {
        let rows: Vec<Message> = (1..=5).map(|i| msg(i, &"\u{1}".repeat(100))).collect();
        let one = MessageRef::from(&rows[0]).json_len();
        // Room for exactly three rows and their two commas.
        let mut budget = PageBudget::new(3 * one + 2);
        let admitted = rows.iter().take_while(|m| budget.admit(&MessageRef::from(*m))).count();
        assert_eq!(admitted, 3);
        let body = MessageListWriter::encode(&rows[..3]).unwrap().len();
        let empty = MessageListWriter::encode(&[]).unwrap().len();
        assert_eq!(budget.used(), body - empty);
        // One byte less: two rows.
        let mut budget = PageBudget::new(3 * one + 1);
        assert_eq!(rows.iter().take_while(|m| budget.admit(&MessageRef::from(*m))).count(), 2);
    }

    #[test]
    fn the_writer_cuts_a_page_where_the_budget_does() {
        let rows: Vec<Message> = (1..=6).map(|i| msg(i, &"\u{1}".repeat(40 * i as usize))).collect();
        for max in [0, 1, 500, 900, 1000, 1500, 2000, 2200, 5000] {
            let mut budget = PageBudget::new(max);
            let admitted = rows.iter().take_while(|m| budget.admit(&MessageRef::from(*m))).count();
            let mut w = MessageListWriter::with_capacity(0);
            let written = rows.iter().take_while(|m| w.push_within(&MessageRef::from(*m), max)).count();
            assert_eq!(written, admitted, "budget {max}");
            assert_eq!(w.finish().unwrap(), MessageListWriter::encode(&rows[..admitted]).unwrap(), "budget {max}");
        }
    }

    #[test]
    fn the_first_row_always_fits_and_zero_is_unlimited() {
        let big = msg(1, &"\u{0}".repeat(10_000));
        assert!(PageBudget::new(1).admit(&MessageRef::from(&big)));
        let mut small = PageBudget::new(1);
        small.admit(&MessageRef::from(&big));
        assert!(!small.admit(&MessageRef::from(&msg(2, "x"))));
        let mut unlimited = PageBudget::new(0);
        assert!((0..100).all(|_| unlimited.admit(&MessageRef::from(&big))));
    }
}
