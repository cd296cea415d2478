import type { ComponentChildren } from 'preact';
import { useState } from 'preact/hooks';

export interface Column<T> {
  title: string;
  /** CSS grid track, e.g. `2fr` or `8rem` */
  width: string;
  cell: (row: T) => ComponentChildren;
}

const ROW = 28;
const OVERSCAN = 10;

/**
 * A virtualised table: only the rows in view (plus a margin) are in the DOM, so 10,000 rows cost
 * what 40 do. Fixed row height; the scroller's full height comes from one spacer element. Styles are set
 * through the CSSOM (Preact's style objects), which the CSP's style-src 'self' allows, not as attributes.
 */
export function VirtualTable<T>(props: {
  rows: T[];
  columns: Column<T>[];
  rowKey: (r: T) => string;
  rowClass?: (r: T) => string;
  onRowClick?: (r: T) => void;
  height?: number;
  testid?: string;
}) {
  const [top, setTop] = useState(0);
  const height = props.height ?? 560;
  const first = Math.max(0, Math.floor(top / ROW) - OVERSCAN);
  const last = Math.min(props.rows.length, Math.ceil((top + height) / ROW) + OVERSCAN);
  const tracks = props.columns.map((c) => c.width).join(' ');
  return (
    <div class="vtable" data-testid={props.testid} data-rows={props.rows.length} role="table">
      <div class="vrow vhead" style={{ gridTemplateColumns: tracks }} role="row">
        {props.columns.map((c) => (
          <div role="columnheader" key={c.title}>
            {c.title}
          </div>
        ))}
      </div>
      <div class="vscroll" onScroll={(e) => setTop(e.currentTarget.scrollTop)} style={{ height: `${height}px` }}>
        <div class="vspacer" style={{ height: `${props.rows.length * ROW}px` }}>
          {props.rows.slice(first, last).map((r, i) => (
            <div
              key={props.rowKey(r)}
              role="row"
              class={`vrow ${props.rowClass?.(r) ?? ''}`}
              style={{ top: `${(first + i) * ROW}px`, gridTemplateColumns: tracks }}
              onClick={() => props.onRowClick?.(r)}
            >
              {props.columns.map((c) => (
                <div role="cell" key={c.title}>
                  {c.cell(r)}
                </div>
              ))}
            </div>
          ))}
        </div>
      </div>
    </div>
  );
}
