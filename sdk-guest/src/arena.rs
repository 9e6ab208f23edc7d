//! The consumer's memory allocator: a bump arena in front of the system allocator.
//!
//! The router runs every delivery in a fresh instance that is thrown away afterwards, so nothing a
//! delivery allocates needs to be given back for a later one. The first allocation takes one
//! block of [`ARENA_BYTES`] from the system allocator (wasi-libc's dlmalloc, inside the memory the
//! instance starts with); allocations are then carved off it by moving a pointer. Freeing the most
//! recent allocation gives its bytes back, and growing it grows in place, which is how strings and
//! vectors are built; any other free is a no-op. Whatever does not fit, and everything after the
//! block is used up, goes to the system allocator as before, so a consumer that needs more memory
//! gets it (and hits its memory limit) exactly as without the arena.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;

/// Bytes the arena takes from the system allocator on first use.
pub const ARENA_BYTES: usize = 16 << 10;

/// The allocator; installed as the global allocator of every consumer built for WebAssembly.
pub struct Arena {
    /// The block: `[start, end)`; `end == 0` until the first allocation.
    start: Cell<usize>,
    end: Cell<usize>,
    /// The next free byte.
    next: Cell<usize>,
    /// Where the most recent allocation starts (it alone may shrink or grow in place).
    last: Cell<usize>,
}

// SAFETY: wasm32-wasip2 has no threads (the arena is only compiled where atomics are off), so the
// cells are never touched concurrently.
unsafe impl Sync for Arena {}

impl Arena {
    pub const fn new() -> Arena {
        Arena { start: Cell::new(0), end: Cell::new(0), next: Cell::new(0), last: Cell::new(usize::MAX) }
    }

    fn contains(&self, ptr: *mut u8) -> bool {
        let p = ptr as usize;
        p >= self.start.get() && p < self.end.get()
    }

    /// Takes the block on first use; false when there is none (then everything goes to System).
    #[cold]
    fn init(&self) -> bool {
        if self.start.get() != 0 {
            return false;
        }
        // SAFETY: the layout has a non-zero size.
        let block = unsafe { System.alloc(Layout::from_size_align_unchecked(ARENA_BYTES, 16)) };
        if block.is_null() {
            // Mark as tried, with an empty block, so this is not attempted again.
            self.start.set(1);
            self.end.set(1);
            self.next.set(1);
            return false;
        }
        let start = block as usize;
        self.start.set(start);
        self.end.set(start + ARENA_BYTES);
        self.next.set(start);
        true
    }

    #[inline]
    fn bump(&self, layout: Layout) -> Option<*mut u8> {
        let start = self.next.get().checked_add(layout.align() - 1)? & !(layout.align() - 1);
        let end = start.checked_add(layout.size())?;
        if end > self.end.get() {
            return None;
        }
        self.next.set(end);
        self.last.set(start);
        Some(start as *mut u8)
    }
}

impl Default for Arena {
    fn default() -> Self {
        Arena::new()
    }
}

// SAFETY: every block handed out is either a fresh, suitably aligned range of the arena that no
// other live allocation overlaps (the bump pointer only moves back over the most recent one when
// it is freed), or comes from System and is returned to System.
unsafe impl GlobalAlloc for Arena {
    #[inline]
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        if let Some(ptr) = self.bump(layout) {
            return ptr;
        }
        if self.end.get() == 0
            && self.init()
            && let Some(ptr) = self.bump(layout)
        {
            return ptr;
        }
        // SAFETY: forwarded with the caller's guarantees.
        unsafe { System.alloc(layout) }
    }

    #[inline]
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        if self.contains(ptr) {
            if ptr as usize == self.last.get() {
                self.next.set(ptr as usize);
                self.last.set(usize::MAX);
            }
            return;
        }
        // SAFETY: not in the arena, so it came from System.alloc with this layout.
        unsafe { System.dealloc(ptr, layout) }
    }

    #[inline]
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        if self.contains(ptr) {
            let p = ptr as usize;
            // The most recent allocation grows or shrinks where it is, while it fits.
            if p == self.last.get() && p.checked_add(new_size).is_some_and(|end| end <= self.end.get()) {
                self.next.set(p + new_size);
                return ptr;
            }
            if new_size <= layout.size() {
                return ptr;
            }
            // SAFETY: the caller guarantees new_size, rounded up to the alignment, does not overflow.
            let new_layout = unsafe { Layout::from_size_align_unchecked(new_size, layout.align()) };
            // SAFETY: as for alloc.
            let new = unsafe { self.alloc(new_layout) };
            if !new.is_null() {
                // SAFETY: both ranges are valid for layout.size() bytes and do not overlap (the
                // new block was not handed out before).
                unsafe { std::ptr::copy_nonoverlapping(ptr, new, layout.size()) };
                // SAFETY: ptr is a live allocation of this allocator with this layout.
                unsafe { self.dealloc(ptr, layout) };
            }
            return new;
        }
        // SAFETY: not in the arena, so it came from System with this layout.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}
