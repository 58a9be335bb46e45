using System.Globalization;

namespace Recur.Data;

/// <summary>
/// The time of each row from <c>--time-column</c>: one parseable date/time column (<c>date</c>), or several integer
/// columns: year, month, day (and hour), or year + period as R exports write (<c>year,quarter</c>,
/// <c>year,month</c>, <c>year,week</c>, <c>year,day</c>). A period column's kind comes from its name (quarter/qtr,
/// month, week, day) or else from its largest value (4: quarters, 12: months, 53: weeks, 366: days of the year).
/// </summary>
/// <param name="Columns">The time columns' names.</param>
/// <param name="Times">The time of every data row.</param>
/// <param name="PeriodsPerYear">For year + period: the seasonal period the period column implies; otherwise null.</param>
public sealed record TimeColumns(string[] Columns, DateTime[] Times, int? PeriodsPerYear)
{
    /// <summary>Splits a <c>--time-column</c> value (a column or a comma list) into the table's column names.</summary>
    public static string[] Resolve(CsvTable table, string spec)
    {
        var parts = spec.Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries);
        if (parts.Length is 0 or > 4)
            throw new InvalidInputException($"--time-column: expected one column, or 2 to 4 comma-separated integer columns (year,month,day[,hour] or year,period); found '{spec}'.");
        var names = parts.Select(p => table.ColumnNames[table.ColumnIndex(p)]).ToArray();
        if (names.Distinct().Count() != names.Length) throw new InvalidInputException($"--time-column: a column is named twice in '{spec}'.");
        return names;
    }

    /// <summary>Parses the time of every row; a bad cell names its line, column, what was expected and what was found.</summary>
    public static TimeColumns Parse(CsvTable table, string spec)
    {
        var names = Resolve(table, spec);
        if (names.Length == 1) return new TimeColumns(names, CalendarFeatures.ParseTimes(table, table.ColumnIndex(names[0])), null);
        var parts = names.Select(n => Integers(table, n)).ToArray();
        int rows = table.RowCount;
        var times = new DateTime[rows];
        if (names.Length == 2)
        {
            var (kind, perYear, season) = PeriodKind(table, names[1], parts[1]);
            for (int r = 0; r < rows; r++)
            {
                int year = Year(table, names[0], r, parts[0][r]), period = parts[1][r];
                if (period < 1 || period > perYear)
                    throw new InvalidInputException($"{table.Source}:{table.LineNumber(r)}, column '{names[1]}': expected a {kind} from 1 to {perYear} but found '{table.Cell(r, table.ColumnIndex(names[1]))}'.");
                times[r] = kind switch
                {
                    "quarter" => new DateTime(year, 3 * (period - 1) + 1, 1),
                    "month" => new DateTime(year, period, 1),
                    "week" => new DateTime(year, 1, 1).AddDays(7 * (period - 1)),
                    _ => new DateTime(year, 1, 1).AddDays(Math.Min(period, DateTime.IsLeapYear(year) ? 366 : 365) - 1),
                };
            }
            return new TimeColumns(names, times, season);
        }
        for (int r = 0; r < rows; r++)
        {
            int year = Year(table, names[0], r, parts[0][r]), month = parts[1][r], day = parts[2][r], hour = names.Length == 4 ? parts[3][r] : 0;
            if (month is < 1 or > 12)
                throw new InvalidInputException($"{table.Source}:{table.LineNumber(r)}, column '{names[1]}': expected a month from 1 to 12 but found '{month}'.");
            int days = DateTime.DaysInMonth(year, month);
            if (day < 1 || day > days)
                throw new InvalidInputException($"{table.Source}:{table.LineNumber(r)}, column '{names[2]}': expected a day from 1 to {days} ({year}-{month:D2}) but found '{day}'.");
            if (hour is < 0 or > 23)
                throw new InvalidInputException($"{table.Source}:{table.LineNumber(r)}, column '{names[3]}': expected an hour from 0 to 23 but found '{hour}'.");
            times[r] = new DateTime(year, month, day, hour, 0, 0);
        }
        return new TimeColumns(names, times, null);
    }

    /// <summary>
    /// Checks that times never decrease within each group of rows (each series): an out-of-order row is most likely a
    /// mistake in the file, so it is an error naming both lines.
    /// </summary>
    public void CheckOrder(CsvTable table, IEnumerable<int[]> groups, string? idColumn)
    {
        foreach (var rows in groups)
            for (int i = 1; i < rows.Length; i++)
                if (Times[rows[i]] < Times[rows[i - 1]])
                    throw new InvalidInputException(
                        $"{table.Source}:{table.LineNumber(rows[i])}, column '{string.Join(",", Columns)}': expected rows in time order{(idColumn is null ? "" : $" within each '{idColumn}'")}, " +
                        $"but {Show(Times[rows[i]])} comes after {Show(Times[rows[i - 1]])} on line {table.LineNumber(rows[i - 1])}; sort the file by time.");
    }

    private static string Show(DateTime time) =>
        time.ToString(time.TimeOfDay == TimeSpan.Zero ? "yyyy-MM-dd" : "yyyy-MM-dd HH:mm:ss", CultureInfo.InvariantCulture);

    private static int Year(CsvTable table, string column, int row, int year) =>
        year is >= 1 and <= 9999 ? year
            : throw new InvalidInputException($"{table.Source}:{table.LineNumber(row)}, column '{column}': expected a year from 1 to 9999 but found '{year}'.");

    private static int[] Integers(CsvTable table, string column)
    {
        int c = table.ColumnIndex(column);
        var text = table.Text(c);
        var values = new int[text.Length];
        for (int r = 0; r < text.Length; r++)
        {
            string cell = text[r].Trim();
            if (!double.TryParse(cell, NumberStyles.Float, CultureInfo.InvariantCulture, out double v) || v != Math.Round(v) || Math.Abs(v) > 1e6)
                throw new InvalidInputException($"{table.Source}:{table.LineNumber(r)}, column '{column}': expected a whole number (a part of the time) but found '{text[r]}'.");
            values[r] = (int)v;
        }
        return values;
    }

    /// <summary>
    /// What a year's second column counts, by its name or else by its largest value; the largest value it may take;
    /// and the seasonal period it implies (4 quarters, 12 months, 52 weeks, 365 days).
    /// </summary>
    private static (string Kind, int Max, int Season) PeriodKind(CsvTable table, string column, int[] values)
    {
        string name = column.ToLowerInvariant();
        if (name.Contains("quarter", StringComparison.Ordinal) || name.Contains("qtr", StringComparison.Ordinal)) return ("quarter", 4, 4);
        if (name.Contains("month", StringComparison.Ordinal)) return ("month", 12, 12);
        if (name.Contains("week", StringComparison.Ordinal)) return ("week", 53, 52);
        if (name.Contains("day", StringComparison.Ordinal) || name.Contains("doy", StringComparison.Ordinal)) return ("day", 366, 365);
        int max = values.Length == 0 ? 0 : values.Max();
        return max switch
        {
            <= 4 => ("quarter", 4, 4),
            <= 12 => ("month", 12, 12),
            <= 53 => ("week", 53, 52),
            <= 366 => ("day", 366, 365),
            _ => throw new InvalidInputException($"{table.Source}, column '{column}': expected a period of the year (quarter, month, week or day) but its values reach {max}."),
        };
    }
}
