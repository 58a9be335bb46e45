namespace Recur.Cli;

public static class Program
{
    public static int Main(string[] args) => RecurCommand.Run(args, Console.Out, Console.Error);
}
