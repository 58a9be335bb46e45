using System.Globalization;

namespace Recur.Data;

/// <summary>
/// Calendar inputs from a time column, as sine/cosine pairs so December sits next to January: day of week, day of
/// year, and hour of day when the times have hours. Named <c>calendar.*</c> among a forecaster's features.
/// </summary>
public static class CalendarFeatures
{
    public const string Prefix = "calendar.";

    /// <summary>The calendar feature names the times call for.</summary>
    public static string[] Names(DateTime[] times)
    {
        var names = new List<string> { "day_of_week_sin", "day_of_week_cos", "day_of_year_sin", "day_of_year_cos" };
        if (times.Any(t => t.TimeOfDay != TimeSpan.Zero)) names.AddRange(["hour_sin", "hour_cos"]);
        return names.Select(n => Prefix + n).ToArray();
    }

    /// <summary>One calendar feature for every time.</summary>
    public static double[] Compute(string name, DateTime[] times)
    {
        (Func<DateTime, double> position, double period) = name[Prefix.Length..] switch
        {
            "day_of_week_sin" or "day_of_week_cos" => ((Func<DateTime, double>)(t => (int)t.DayOfWeek), 7.0),
            "day_of_year_sin" or "day_of_year_cos" => (t => t.DayOfYear - 1, 365.25),
            "hour_sin" or "hour_cos" => (t => t.TimeOfDay.TotalHours, 24.0),
            _ => throw new InvalidInputException($"unknown calendar feature '{name}'."),
        };
        bool sine = name.EndsWith("_sin", StringComparison.Ordinal);
        return times.Select(t => sine ? Math.Sin(2 * Math.PI * position(t) / period) : Math.Cos(2 * Math.PI * position(t) / period)).ToArray();
    }

    /// <summary>Parses a time column (ISO dates and the invariant culture's formats); a bad cell names its line.</summary>
    public static DateTime[] ParseTimes(CsvTable table, int column)
    {
        var text = table.Text(column);
        var times = new DateTime[text.Length];
        for (int r = 0; r < text.Length; r++)
            if (!DateTime.TryParse(text[r].Trim(), CultureInfo.InvariantCulture, DateTimeStyles.AllowWhiteSpaces, out times[r]))
                throw new InvalidInputException($"{table.Source}:{table.LineNumber(r)}, column '{table.ColumnNames[column]}': expected a date or time (e.g. 2012-01-31 or 2012-01-31 14:00) but found '{text[r]}'.");
        return times;
    }
}
