using System.Globalization;
using System.Text;
using Recur.Randomness;

namespace Recur.Tests.Cli;

/// <summary>
/// Date normalisation pairs, a classic attention task: a date written in one of several surface forms
/// ("3 March 2001", "March 3, 2001", "3rd of Mar 2001", "03.03.2001", …) → its ISO form "2001-03-03". Drawn from a
/// seeded generator, so a file of them is the same on every machine (data/dates.tsv is <c>Tsv(3000, 2024)</c>).
/// </summary>
internal static class DatePairs
{
    private static readonly string[] Formats =
    [
        "d MMMM yyyy", "MMMM d, yyyy", "d MMM yyyy", "MMM d, yyyy", "dd.MM.yyyy", "dddd, d MMMM yyyy", "o MMMM yyyy", "o of MMM yyyy", "yyyy MMMM d",
    ];

    /// <summary><paramref name="count"/> (source, target) pairs drawn with <paramref name="seed"/>: dates from 1950 to 2049.</summary>
    public static List<(string Source, string Target)> Generate(int count, ulong seed)
    {
        var random = new RecurRandom(seed);
        var start = new DateTime(1950, 1, 1);
        int days = (int)(new DateTime(2050, 1, 1) - start).TotalDays;
        var pairs = new List<(string, string)>(count);
        for (int i = 0; i < count; i++)
        {
            var date = start.AddDays((int)(random.NextDouble() * days));
            string format = Formats[(int)(random.NextDouble() * Formats.Length)];
            pairs.Add((Write(date, format), date.ToString("yyyy-MM-dd", CultureInfo.InvariantCulture)));
        }
        return pairs;
    }

    /// <summary>The pairs as a TSV with the header <c>written	iso</c>.</summary>
    public static string Tsv(int count, ulong seed)
    {
        var text = new StringBuilder("written\tiso\n");
        foreach (var (source, target) in Generate(count, seed)) text.Append(source).Append('\t').Append(target).Append('\n');
        return text.ToString();
    }

    /// <summary>A .NET date format, plus "o" for the English ordinal day (1st, 2nd, 3rd, 4th …).</summary>
    private static string Write(DateTime date, string format)
    {
        string ordinal = date.Day + (date.Day is 11 or 12 or 13 ? "th" : (date.Day % 10) switch { 1 => "st", 2 => "nd", 3 => "rd", _ => "th" });
        var parts = format.Split(' ').Select(part => part == "o" ? ordinal : part == "of" ? "of" : date.ToString(part.Length == 1 ? "%" + part : part, CultureInfo.InvariantCulture));
        return string.Join(' ', parts);
    }
}
