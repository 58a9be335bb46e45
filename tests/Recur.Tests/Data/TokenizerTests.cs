using System.Diagnostics;
using Recur.Data;

namespace Recur.Tests.Data;

public class TokenizerTests
{
    private static readonly string[] HandTexts = ["low low low lower lowest newer newer wider"];

    [Fact]
    public void WordsSplitOnSpaceAndPunctuationKeepingApostrophes()
    {
        Assert.Equal(["Don't", "stop", "—", "it's", "3", ".", "5", "great", "!", "!"],
            WordTokenizer.Split("  Don't stop—it's\t3.5 great!!\n", lowerCase: false));
        Assert.Equal(["don't", "stop", ",", "café"], WordTokenizer.Split("DON'T Stop, Café", lowerCase: true));
        Assert.Empty(WordTokenizer.Split(" \t\n", lowerCase: true));
    }

    [Fact]
    public void LowerCasingIsOptional()
    {
        string[] texts = ["The cat", "the cat", "THE CAT"];
        var lower = WordTokenizer.Train(texts, maxLength: 4);
        Assert.Equal(["cat", "the"], lower.Words); // both three times: ordinal order
        Assert.Equal(lower.Encode(["the cat"]).Ids, lower.Encode(["ThE CaT"]).Ids);
        var cased = WordTokenizer.Train(texts, maxLength: 4, lowerCase: false, minFrequency: 1);
        Assert.Equal(["cat", "CAT", "THE", "The", "the"], cased.Words); // "cat" twice, the rest once in ordinal order
        Assert.Equal("word", cased.Kind);
    }

    [Fact]
    public void RareWordsAreUnknownAndVocabularyIsByFrequency()
    {
        string[] texts = ["the cat sat .", "the dog sat .", "the end ."];
        var tokenizer = WordTokenizer.Train(texts, maxLength: 3);
        Assert.Equal([".", "the", "sat"], tokenizer.Words); // 3, 3, 2: ties in ordinal order ('.' < 't')
        Assert.Equal(5, tokenizer.Size);
        Assert.Equal([3, 1, 4], tokenizer.Encode(["the cow sat"]).Ids);
        Assert.Equal([".", "the"], WordTokenizer.Train(texts, 3, maxVocabulary: 2).Words);
        Assert.Equal(["."], WordTokenizer.Train(texts, 3, maxVocabulary: 1).Words);
        Assert.Throws<InvalidInputException>(() => WordTokenizer.Train(texts, 0));
    }

    [Fact]
    public void SequencesKeepTheFirstTokensAndPadOnTheRightWithLengths()
    {
        var words = WordTokenizer.Train(["a b c", "a b c"], maxLength: 2);
        Assert.Equal(["a", "b", "c"], words.Words);
        var encoded = words.Encode(["a b c", "b", ""]);
        Assert.Equal([2, 3, 3, 0, 1, 0], encoded.Ids); // an empty text is one unknown token
        Assert.Equal([2, 1, 1], encoded.Lengths);
        Assert.Equal(2, encoded.Steps);
        var characters = CharacterVocabulary.FromTexts(["abc"], maxLength: 2);
        Assert.Equal([2, 3, 3, 0, 1, 0], characters.Encode(["abc", "b", ""]).Ids); // same convention
        Assert.Equal([2, 1, 1], characters.Encode(["abc", "b", ""]).Lengths);

        var bpe = BpeTokenizer.Train(["a b c"], merges: 0, maxLength: 2);
        Assert.Equal(["a</w>", "b</w>", "c</w>"], bpe.Symbols);
        Assert.Equal([2, 3, 3, 0], bpe.Encode(["a b c", "b"]).Ids);
    }

    [Fact]
    public void SavedStateGivesTheSameIds()
    {
        string[] texts = ["I loved it, really loved it!", "Didn't like it.", "it was fine", "I'd buy it again"];
        var words = WordTokenizer.Train(texts, maxLength: 6, minFrequency: 1);
        var restoredWords = new WordTokenizer(words.Words.ToArray(), words.MaxLength, words.LowerCase);
        Assert.Equal(words.Encode(texts).Ids, restoredWords.Encode(texts).Ids);
        Assert.Equal(words.Size, restoredWords.Size);

        var bpe = BpeTokenizer.Train(texts, merges: 20, maxLength: 12);
        var restoredBpe = new BpeTokenizer(bpe.Symbols.ToArray(), bpe.Merges.ToArray(), bpe.MaxLength, bpe.LowerCase);
        Assert.Equal(bpe.Encode(texts).Ids, restoredBpe.Encode(texts).Ids);
        Assert.Equal(bpe.Size, restoredBpe.Size);
        Assert.Throws<InvalidInputException>(() => new BpeTokenizer(["a", "b"], [("a", "b")], 4, true));
        Assert.Throws<InvalidInputException>(() => new WordTokenizer(["a", "a"], 4, true));
    }

    [Fact]
    public void BpeLearnsTheHandComputedMerges()
    {
        // Pairs: (l,o) 5; then (e,r</w>) and (w,e) 4 each, 'e' < 'w'; then (lo,w</w>) and (w,er</w>) 3 each, "lo" < "w".
        var bpe = BpeTokenizer.Train(HandTexts, merges: 4, maxLength: 8);
        Assert.Equal([("l", "o"), ("e", "r</w>"), ("lo", "w</w>"), ("w", "er</w>")], bpe.Merges);
        Assert.Equal(["d", "e", "i", "l", "n", "o", "r</w>", "s", "t</w>", "w", "w</w>", "lo", "er</w>", "low</w>", "wer</w>"],
            bpe.Symbols);
        Assert.Equal("bpe", bpe.Kind);
    }

    [Fact]
    public void BpeEncodesTrainingWordsWithMergedSymbols()
    {
        var bpe = BpeTokenizer.Train(HandTexts, merges: 4, maxLength: 4);
        Assert.Equal(["lo", "wer</w>", "low</w>", "n", "e", "wer</w>"], bpe.Tokenize("Lower low newer"));
        Assert.Equal([13, 16, 0, 0], bpe.Encode(["lower"]).Ids);
    }

    [Fact]
    public void BpeUnseenCharacterIsUnknown()
    {
        var bpe = BpeTokenizer.Train(HandTexts, merges: 4, maxLength: 4);
        Assert.Equal(["lo", "x</w>"], bpe.Tokenize("lox"));
        Assert.Equal([13, 1, 0, 0], bpe.Encode(["lox"]).Ids);
        Assert.Equal([1, 0, 0, 0], bpe.Encode(["?"]).Ids);
    }

    [Fact]
    public void BpeStopsWhenNoPairRepeats()
    {
        var bpe = BpeTokenizer.Train(["ab cd"], merges: 10, maxLength: 4);
        Assert.Empty(bpe.Merges);
        var twice = BpeTokenizer.Train(["abc abc"], merges: 10, maxLength: 4);
        Assert.Equal([("a", "b"), ("ab", "c</w>")], twice.Merges);
        Assert.Equal(["abc</w>"], twice.Tokenize("abc"));
    }

    [Fact]
    public void BpeTrainingIsDeterministic()
    {
        var texts = Corpus().Take(500).ToArray();
        var first = BpeTokenizer.Train(texts, merges: 200, maxLength: 32);
        var second = BpeTokenizer.Train(texts.Reverse().ToArray(), merges: 200, maxLength: 32);
        Assert.Equal(first.Merges, second.Merges);
        Assert.Equal(first.Symbols, second.Symbols);
    }

    [Fact]
    public void BpeTrainsFastOnTheSentimentSentences()
    {
        var texts = Corpus().ToArray();
        var watch = Stopwatch.StartNew();
        var bpe = BpeTokenizer.Train(texts, merges: 1000, maxLength: 64);
        watch.Stop();
        Assert.True(watch.Elapsed < TimeSpan.FromSeconds(5), $"training took {watch.Elapsed}");
        Assert.Equal(1000, bpe.Merges.Count);
        Assert.Equal(bpe.Symbols.Count + 2, bpe.Size);
        var ids = bpe.Encode(texts).Ids;
        Assert.Equal(texts.Length * 64, ids.Length);
        Assert.All(ids, id => Assert.InRange(id, 0, bpe.Size - 1));
        Assert.DoesNotContain(BpeTokenizer.Unknown, ids); // every training character is known

        var words = WordTokenizer.Train(texts, maxLength: 32);
        Assert.All(words.Encode(texts).Ids, id => Assert.InRange(id, 0, words.Size - 1));
    }

    /// <summary>The sentiment sentences (third tab field) from the shared data sets folder, else generated sentences.</summary>
    private static IEnumerable<string> Corpus()
    {
        const string name = "sentiment-labelled-sentences.tsv";
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir != null; dir = dir.Parent)
        {
            var path = Path.Combine(dir.FullName, "shared", "datasets", name);
            if (File.Exists(path)) return File.ReadLines(path).Select(l => l.Split('\t')).Where(f => f.Length >= 3).Select(f => f[2]);
        }
        if (File.Exists("/work/shared/datasets/" + name))
            return File.ReadLines("/work/shared/datasets/" + name).Select(l => l.Split('\t')).Where(f => f.Length >= 3).Select(f => f[2]);
        var random = new Random(7);
        string[] vocabulary = ["great", "phone", "battery", "terrible", "loved", "movie", "service", "wouldn't", "recommend",
            "the", "a", "was", "really", "not", "good", "bad", "food", "works", "quality", "excellent", "waste", "money"];
        return Enumerable.Range(0, 3000).Select(_ =>
            string.Join(' ', Enumerable.Range(0, random.Next(4, 16)).Select(_ => vocabulary[random.Next(vocabulary.Length)])) + ".");
    }
}
