import { Bar, BarChart, CartesianGrid, Legend, ResponsiveContainer, Tooltip, XAxis, YAxis } from "recharts";

export type Series = { key: string; name: string; fill: string };
type Props = { data: Record<string, string | number>[]; x: string; series: Series[]; horizontal?: boolean };

/** The staff pages' bar chart: vertical bars over labels, or horizontal bars for long label names. */
export function Bars({ data, x, series, horizontal = false }: Props) {
  const bars = series.map((s) => <Bar key={s.key} dataKey={s.key} name={s.name} fill={s.fill} isAnimationActive={false} />);
  const height = horizontal ? Math.max(288, 40 + data.length * 26) : 288; // room for every label's name
  return (
    <div style={{ height }}>
      <ResponsiveContainer width="100%" height="100%">
        {horizontal ? (
          <BarChart data={data} layout="vertical" margin={{ left: 8 }}>
            <CartesianGrid strokeDasharray="3 3" horizontal={false} />
            <XAxis type="number" allowDecimals={false} tick={{ fontSize: 11 }} />
            <YAxis type="category" dataKey={x} width={190} tick={{ fontSize: 11 }} interval={0} />
            <Tooltip />
            {series.length > 1 && <Legend />}
            {bars}
          </BarChart>
        ) : (
          <BarChart data={data} margin={{ left: -20 }}>
            <CartesianGrid strokeDasharray="3 3" vertical={false} />
            <XAxis dataKey={x} tick={{ fontSize: 11 }} interval={0} angle={-25} textAnchor="end" height={70} />
            <YAxis allowDecimals={false} tick={{ fontSize: 11 }} />
            <Tooltip />
            {series.length > 1 && <Legend />}
            {bars}
          </BarChart>
        )}
      </ResponsiveContainer>
    </div>
  );
}

export const percent = (x: number | null | undefined) => (x === null || x === undefined ? "–" : `${Math.round(x * 100)}%`);
