import type { ReactNode } from "react";

/** A table's header row; a column given as [label, title] gets a hover explanation. */
export function TableHead({ columns }: { columns: Array<ReactNode | [ReactNode, string]> }) {
  return (
    <thead>
      <tr>
        {columns.map((column, i) => {
          const [label, title] = Array.isArray(column) ? column : [column, undefined];
          return (
            <th key={i} scope="col" title={title}>
              {label}
            </th>
          );
        })}
      </tr>
    </thead>
  );
}
