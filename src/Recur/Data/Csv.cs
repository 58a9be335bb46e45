namespace Recur.Data;

/// <summary>Writing CSV fields.</summary>
public static class Csv
{
    /// <summary>The field as it must appear in a comma-separated file: quoted (quotes doubled) when it holds a comma, quote or line break.</summary>
    public static string Quote(string field) =>
        field.IndexOfAny([',', '"', '\n', '\r']) >= 0 ? "\"" + field.Replace("\"", "\"\"") + "\"" : field;
}
