// Lexicon-free CTC beam search with a word n-gram LM and hotwords, compiled.
//
// Why this exists: flashlight's lexicon-free decoder only knows token-level LMs, so a word LM had to be a
// Python CTCDecoderLM (asr/decode/beam.py, WordLmAdapter) called for every (hypothesis, token) pair: the
// slowest mode of every benchmark (tools/bench/results/decode_*.md). This file is a CTC prefix beam search
// (each prefix's blank-ending and token-ending path probabilities summed, as pyctcdecode does; flashlight keeps
// only the best path) with flashlight's pruning (beam_size_token, beam_threshold, sil_score), pyctcdecode's
// token_min_logp, and WordLmAdapter's scoring: characters gather into a word, a word is scored at the
// separator or the end, a partial word that leaves every LM word's prefixes pays unk_prefix once, hotword
// prefixes earn a share of the boost that is taken back if the word becomes something else.
// tests/unit/test_wordlm_native.py checks the scores against asr.lm.arpa and the search against the adapter.
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <numeric>
#include <string>
#include <unordered_map>
#include <unordered_set>
#include <utility>
#include <vector>

namespace py = pybind11;

namespace {

constexpr double kNegInf = -std::numeric_limits<double>::infinity();

std::string key_of(const int* ids, int n) {
  return std::string(reinterpret_cast<const char*>(ids), sizeof(int) * static_cast<size_t>(n));
}

// A back-off n-gram model, log10 scores, scored exactly as asr.lm.arpa.ArpaModel.score does.
class NgramLm {
 public:
  NgramLm(int order, const std::vector<std::string>& vocab) : order_(order), tables_(order) {
    for (size_t i = 0; i < vocab.size(); ++i) ids_.emplace(vocab[i], static_cast<int>(i));
    auto unk = ids_.find("<unk>");
    unk_ = unk == ids_.end() ? -1 : unk->second;
  }

  // n-grams of one order: ids row-major (count x k), log10 probabilities, backoffs.
  void add(int k, py::array_t<int32_t, py::array::c_style | py::array::forcecast> ids,
           py::array_t<double, py::array::c_style | py::array::forcecast> logprobs,
           py::array_t<double, py::array::c_style | py::array::forcecast> backoffs) {
    if (k < 1 || k > order_) throw std::invalid_argument("n-gram order out of range");
    const auto n = static_cast<size_t>(logprobs.size());
    if (static_cast<size_t>(ids.size()) != n * static_cast<size_t>(k) || static_cast<size_t>(backoffs.size()) != n)
      throw std::invalid_argument("n-gram arrays of different lengths");
    auto& table = tables_[k - 1];
    table.reserve(table.size() + n);
    const int32_t* id = ids.data();
    for (size_t i = 0; i < n; ++i) {
      std::vector<int> key(id + i * k, id + (i + 1) * k);
      table[key_of(key.data(), k)] = {logprobs.data()[i], backoffs.data()[i]};
    }
  }

  int order() const { return order_; }

  // The LM's id of a word: itself, <unk>, or -1 (no mass; never matches an n-gram).
  int map(const std::string& word) const {
    auto it = ids_.find(word);
    return it == ids_.end() ? unk_ : it->second;
  }

  // log10 p(target | history), history oldest first (ids from map()).
  double score(int target, const int* context, int size) const {
    if (target < 0) return kNegInf;
    const int keep = std::min<int>(size, order_ - 1);
    int buf[64];
    if (keep + 1 > 64) throw std::invalid_argument("n-gram order over 64");
    double total = 0.0;
    for (int start = 0; start <= keep; ++start) {
      const int h = keep - start;  // history length
      const int* hist = context + size - h;
      std::copy(hist, hist + h, buf);
      buf[h] = target;
      const auto& table = tables_[h];
      auto found = table.find(key_of(buf, h + 1));
      if (found != table.end()) return total + found->second.first;
      if (h > 0) {
        const auto& lower = tables_[h - 1];
        auto ctx = lower.find(key_of(buf, h));
        if (ctx != lower.end()) total += ctx->second.second;
      }
    }
    return kNegInf;
  }

 private:
  int order_;
  int unk_;
  std::unordered_map<std::string, int> ids_;
  std::vector<std::unordered_map<std::string, std::pair<double, double>>> tables_;
};

struct Hotword {
  std::vector<std::string> words;
  double boost;
};

// One LM state: a node of the tree of emitted token sequences (flashlight compares LM states by identity,
// so two hypotheses merge only when they emitted the same tokens).
// A word of the history: its LM id (asr.lm.arpa's mapping: itself, <unk> or -1) and its hotword-word id (-1: none).
struct CtxWord {
  int lm;
  int hw;
  bool operator==(const CtxWord& o) const { return lm == o.lm && hw == o.hw; }
};

struct LmNode {
  std::vector<CtxWord> context;  // the last context_len words
  std::string partial;               // the word being spelled
  double given = 0.0;                // hotword prefix share already granted
  // token -> (node, score); a handful per node, so a list beats a hash map.
  std::vector<std::pair<int, std::pair<int, double>>> children;
  int step = -1;  // the search step whose candidates hold this node (at index slot)
  int slot = -1;

  const std::pair<int, double>* child(int token) const {
    for (const auto& c : children)
      if (c.first == token) return &c.second;
    return nullptr;
  }
};

// One prefix (a node: the tokens emitted so far) at one frame, with the CTC probability of its paths split
// by how they end: p[0] in blank, p[1] in the prefix's last token; and its weighted LM score. Each part keeps
// the back-pointer of its best path, so the frame path read back (word times, the n-best's tokens) spells
// this prefix: a path that repeats a letter after a blank must go back through the blank-ending part.
struct Hyp {
  int node;
  int token;  // the last emitted token (the separator at the start)
  double p[2];
  double lm;
  int parent[2];  // per part: the best path's hypothesis at the previous frame,
  int from[2];    // and the part of it that path went through
  double best[2];  // that path's probability, to choose the back-pointer
  double total;    // logadd(p[0], p[1]) + lm, set when the frame's contributions are all in
  double score() const { return logadd(p[0], p[1]) + lm; }
  int best_part() const { return p[1] > p[0] ? 1 : 0; }
  static double logadd(double a, double b) {
    if (a == kNegInf) return b;
    if (b == kNegInf) return a;
    const double hi = std::max(a, b);
    return hi + std::log1p(std::exp(std::min(a, b) - hi));
  }
};

struct Result {
  double score;
  std::vector<int> tokens;
  std::vector<int> timesteps;
};

class WordLmSearch {
 public:
  WordLmSearch(std::vector<std::string> symbols, int blank, int sep, const NgramLm* lm, double lm_weight,
               double word_score, double unk_prefix_score, const std::vector<std::pair<std::vector<std::string>, double>>& hotwords,
               int beam_size, int beam_size_token, double beam_threshold, double sil_score, int nbest)
      : symbols_(std::move(symbols)), blank_(blank), sep_(sep), lm_(lm), beam_size_(beam_size),
        beam_size_token_(beam_size_token), beam_threshold_(beam_threshold), sil_score_(sil_score),
        nbest_(std::max(1, nbest)), weight_(lm_weight) {
    // As WordLmAdapter: scores are in LM units, so bonuses are pre-divided by the weight.
    scale_ = lm_weight != 0.0 ? lm_weight : 1.0;
    word_bonus_ = lm_weight != 0.0 ? word_score / lm_weight : 0.0;
    unk_prefix_ = unk_prefix_score / scale_;
    size_t longest = 1;
    for (const auto& [words, boost] : hotwords) {
      if (words.empty()) throw std::invalid_argument("empty hotword");
      hotwords_.push_back({words, boost});
      longest = std::max(longest, words.size());
      const std::string& first = words.front();
      for (size_t i = 1; i <= first.size(); ++i) {
        const double share = boost * static_cast<double>(i) / static_cast<double>(first.size());
        auto [it, fresh] = prefix_boost_.emplace(first.substr(0, i), share);
        if (!fresh) it->second = std::max(it->second, share);
      }
    }
    for (size_t i = 0; i < hotwords_.size(); ++i) phrases_[hotwords_[i].words.back()].push_back(static_cast<int>(i));
    for (const auto& hw : hotwords_)
      for (const auto& w : hw.words) hotword_ids_.emplace(w, static_cast<int>(hotword_ids_.size()));
    for (const auto& hw : hotwords_) {
      std::vector<CtxWord> before;
      for (size_t j = 0; j + 1 < hw.words.size(); ++j) before.push_back(word(hw.words[j]));
      hotword_ctx_.push_back(std::move(before));
    }
    const int order = lm_ ? lm_->order() : 1;
    context_len_ = std::max<int>(order - 1, static_cast<int>(longest) - 1);
  }

  // Every prefix of these words is a known partial word: a word pays unk_prefix once, when its spelling
  // leaves them or, if it never does, when it ends without being one of the words (off when never set).
  void set_known_words(const std::vector<std::string>& words) {
    use_prefixes_ = true;
    words_.insert(words.begin(), words.end());
    for (const auto& w : words)
      for (size_t i = 1; i <= w.size(); ++i) prefixes_.insert(w.substr(0, i));
  }

  // Lexicon mode (character models): only these words, spelled by their letters. A partial word that starts
  // none of them is dropped; a completed word outside them scores unk_score (-inf: never written).
  void set_lexicon(const std::vector<std::string>& words, double unk_score) {
    lexicon_only_ = true;
    unk_score_ = unk_score;
    words_.insert(words.begin(), words.end());
    for (const auto& w : words)
      for (size_t i = 1; i <= w.size(); ++i) prefixes_.insert(w.substr(0, i));
  }

  // Tokens below this log-probability in a frame are not tried (the frame's best always is); -inf = off.
  void set_token_min_logp(double value) { token_min_logp_ = value; }

  std::vector<Result> decode(py::array_t<float, py::array::c_style | py::array::forcecast> emissions) {
    if (emissions.ndim() != 2) throw std::invalid_argument("emissions must be frames x tokens");
    const int T = static_cast<int>(emissions.shape(0));
    const int N = static_cast<int>(emissions.shape(1));
    if (N != static_cast<int>(symbols_.size())) throw std::invalid_argument("emissions do not match the tokens");
    const float* em = emissions.data();
    py::gil_scoped_release release;
    return run(em, T, N);
  }

 private:
  std::vector<Result> run(const float* em, int T, int N) {
    nodes_.clear();
    nodes_.emplace_back();
    nodes_[0].context = {word("<s>")};
    std::vector<std::vector<Hyp>> frames(static_cast<size_t>(T) + 2);
    // As if a separator came first.
    frames[0].push_back({0, sep_, {kNegInf, 0.0}, 0.0, {-1, -1}, {1, 1}, {kNegInf, 0.0}, 0.0});
    std::vector<int> idx(N);
    const int n_tokens = std::min(beam_size_token_, N);
    for (int t = 0; t < T; ++t) {
      const float* row = em + static_cast<size_t>(t) * N;
      std::iota(idx.begin(), idx.end(), 0);
      std::partial_sort(idx.begin(), idx.begin() + n_tokens, idx.end(),
                        [row](int l, int r) { return row[l] > row[r]; });
      ++step_;
      candidates_.clear();
      const auto& prev = frames[t];
      for (int p = 0; p < static_cast<int>(prev.size()); ++p) {
        const Hyp& h = prev[p];
        const double total = Hyp::logadd(h.p[0], h.p[1]);
        const int via = h.best_part();
        for (int r = 0; r < n_tokens; ++r) {
          const int n = idx[r];
          if (r > 0 && row[n] < token_min_logp_) break;  // sorted: the rest are lower
          const double am = row[n] + (n == sep_ ? sil_score_ : 0.0);
          if (n == blank_) {
            add(h.node, h.token, 0, total + am, h.lm, p, via);
          } else if (n == h.token) {
            add(h.node, h.token, 1, h.p[1] + am, h.lm, p, 1);  // the token goes on
            if (h.p[0] != kNegInf) {  // after a blank, the same token again is a new one
              auto [child, lm_score] = expand(h.node, n);
              if (child >= 0) add(child, n, 1, h.p[0] + am, h.lm + weight_ * lm_score, p, 0);
            }
          } else {
            auto [child, lm_score] = expand(h.node, n);
            if (child >= 0) add(child, n, 1, total + am, h.lm + weight_ * lm_score, p, via);
          }
        }
      }
      prune(frames[t + 1], false);
    }
    ++step_;
    candidates_.clear();
    const auto& last = frames[T];
    for (int p = 0; p < static_cast<int>(last.size()); ++p) {
      auto [child, lm_score] = finish(last[p].node);
      const Hyp& h = last[p];
      if (child >= 0) add(child, sep_, 1, Hyp::logadd(h.p[0], h.p[1]), h.lm + weight_ * lm_score, p, h.best_part());
    }
    prune(frames[T + 1], true);

    std::vector<Result> results;
    const auto& final_hyps = frames[T + 1];
    const int count = std::min<int>(nbest_, static_cast<int>(final_hyps.size()));
    std::vector<int> path(static_cast<size_t>(T) + 2);
    for (int i = 0; i < count; ++i) {
      int at = i, part = 1;
      for (int f = T + 1; f >= 0 && at >= 0; --f) {
        const Hyp& h = frames[f][at];
        path[f] = part == 0 ? blank_ : h.token;
        const int next = h.parent[part];
        part = h.from[part];
        at = next;
      }
      // torchaudio's collapse of a frame path: each token at the frame it starts, blanks dropped (a blank
      // between two equal tokens keeps them apart).
      Result res{final_hyps[i].total, {}, {}};
      for (int f = 0; f < T + 2; ++f) {
        if (path[f] == blank_) continue;
        if (f == 0 || path[f] != path[f - 1]) {
          res.tokens.push_back(path[f]);
          res.timesteps.push_back(f);
        }
      }
      results.push_back(std::move(res));
    }
    return results;
  }

  // Paths reaching a prefix at this frame: their probabilities add up, per ending (part 0: blank, 1: token).
  void add(int node, int token, int part, double value, double lm, int parent, int from) {
    if (value == kNegInf || lm == kNegInf) return;  // no path: never a hypothesis (nor a back-pointer to none)
    LmNode& at = nodes_[node];
    if (at.step != step_) {
      at.step = step_;
      at.slot = static_cast<int>(candidates_.size());
      candidates_.push_back({node, token, {kNegInf, kNegInf}, lm, {-1, -1}, {1, 1}, {kNegInf, kNegInf}, 0.0});
    }
    Hyp& into = candidates_[at.slot];
    into.p[part] = Hyp::logadd(into.p[part], value);
    if (value > into.best[part]) {
      into.best[part] = value;
      into.parent[part] = parent;
      into.from[part] = from;
    }
  }

  // Keep the beam_size best prefixes within beam_threshold of the best.
  void prune(std::vector<Hyp>& out, bool sorted) {
    out.clear();
    if (candidates_.empty()) return;
    double best = kNegInf;
    for (Hyp& c : candidates_) {
      c.total = c.score();
      best = std::max(best, c.total);
    }
    const double threshold = best - beam_threshold_;
    for (const Hyp& c : candidates_)
      if (c.total >= threshold && c.total != kNegInf) out.push_back(c);
    const int size = std::min<int>(beam_size_, static_cast<int>(out.size()));
    auto by_score = [](const Hyp& a, const Hyp& b) { return a.total > b.total; };
    if (sorted) {
      std::partial_sort(out.begin(), out.begin() + size, out.end(), by_score);
    } else if (static_cast<int>(out.size()) > size) {
      std::nth_element(out.begin(), out.begin() + size, out.end(), by_score);
    }
    out.resize(size);
  }

  CtxWord word(const std::string& w) const {
    auto hw = hotword_ids_.find(w);
    return {lm_ ? lm_->map(w) : -1, hw == hotword_ids_.end() ? -1 : hw->second};
  }

  double lm_score(const CtxWord& target, const std::vector<CtxWord>& context) const {
    if (!lm_) return 0.0;
    int ids[64];
    const int n = std::min<int>(static_cast<int>(context.size()), 64);
    for (int i = 0; i < n; ++i) ids[i] = context[context.size() - n + i].lm;
    return lm_->score(target.lm, ids, n);
  }

  double word_logprob(const std::vector<CtxWord>& context, const std::string& text) const {
    const CtxWord w = word(text);
    const double lm = lm_score(w, context);
    double bonus = 0.0;
    auto it = phrases_.find(text);
    if (it != phrases_.end()) {
      for (int i : it->second) {
        const auto& words = hotword_ctx_[i];  // the phrase's words before the last
        bool match = words.empty();
        if (!match && context.size() >= words.size())
          match = std::equal(words.begin(), words.end(), context.end() - static_cast<long>(words.size()));
        if (match) bonus += hotwords_[i].boost;
      }
    }
    return lm + bonus / scale_ + word_bonus_;
  }

  std::vector<CtxWord> next_context(const std::vector<CtxWord>& context, const std::string& text) const {
    if (context_len_ == 0) return {};
    std::vector<CtxWord> out;
    out.reserve(context_len_);
    const int keep = std::min<int>(static_cast<int>(context.size()), context_len_ - 1);
    out.insert(out.end(), context.end() - keep, context.end());
    out.push_back(word(text));
    return out;
  }

  int new_node(std::vector<CtxWord> context, std::string partial, double given) {
    nodes_.emplace_back();
    LmNode& node = nodes_.back();
    node.context = std::move(context);
    node.partial = std::move(partial);
    node.given = given;
    return static_cast<int>(nodes_.size()) - 1;
  }

  // A token that makes no allowed word (lexicon mode): remembered, so it is refused at once next time.
  std::pair<int, double> dropped(int at, int token) {
    nodes_[at].children.push_back({token, {-1, kNegInf}});
    return {-1, kNegInf};
  }

  std::pair<int, double> expand(int at, int token) {
    if (const auto* hit = nodes_[at].child(token)) return *hit;
    // Copies: new_node may reallocate nodes_.
    const std::vector<CtxWord> context = nodes_[at].context;
    const std::string partial = nodes_[at].partial;
    const double given = nodes_[at].given;
    int child;
    double score;
    if (token == sep_) {
      if (partial.empty()) {
        // A separator with no word before it changes no text: the same prefix, so its paths merge with it
        // (otherwise "a|" and "a||" would fill the n-best with one transcript).
        child = at;
        score = 0.0;
      } else {
        score = word_logprob(context, partial) - given / scale_;
        if (lexicon_only_ && !words_.count(partial)) score += unk_score_ / scale_;
        // A word that ends as a mere prefix of known words ("callin") is as unknown as one that left them.
        if (use_prefixes_ && !lexicon_only_ && prefixes_.count(partial) && !words_.count(partial))
          score += unk_prefix_;
        if (score == kNegInf) return dropped(at, token);
        child = new_node(next_context(context, partial), "", 0.0);
      }
    } else {
      std::string grown = partial + symbols_[token];
      if (lexicon_only_ && unk_score_ == kNegInf && !prefixes_.count(grown)) return dropped(at, token);
      auto boost = prefix_boost_.find(grown);
      const double target = boost == prefix_boost_.end() ? 0.0 : boost->second;
      score = (target - given) / scale_;
      if (use_prefixes_ && !lexicon_only_ && !prefixes_.count(grown) && (partial.empty() || prefixes_.count(partial)))
        score += unk_prefix_;
      child = new_node(context, std::move(grown), target);
    }
    nodes_[at].children.push_back({token, {child, score}});
    return {child, score};
  }

  // The end of the utterance: a word being spelled ends as at a separator (so "a" and "a|" end in one
  // state and their paths merge), then </s>.
  std::pair<int, double> finish(int at) {
    if (!nodes_[at].partial.empty()) {
      auto [ended, word_score] = expand(at, sep_);
      if (ended < 0) return {-1, kNegInf};
      auto [child, end_score] = finish(ended);
      return {child, word_score + end_score};
    }
    if (const auto* hit = nodes_[at].child(-1)) return *hit;
    double score = 0.0;
    if (lm_) score = lm_score(word("</s>"), nodes_[at].context);
    const int child = new_node(nodes_[at].context, "", 0.0);
    nodes_[at].children.push_back({-1, {child, score}});
    return {child, score};
  }

  std::vector<std::string> symbols_;
  int blank_, sep_;
  const NgramLm* lm_;
  int beam_size_, beam_size_token_;
  double beam_threshold_, sil_score_;
  int nbest_;
  double weight_, scale_, word_bonus_, unk_prefix_;
  int context_len_ = 0;
  std::vector<Hotword> hotwords_;
  std::unordered_map<std::string, std::vector<int>> phrases_;
  std::unordered_map<std::string, int> hotword_ids_;
  std::vector<std::vector<CtxWord>> hotword_ctx_;
  std::unordered_map<std::string, double> prefix_boost_;
  bool use_prefixes_ = false;
  bool lexicon_only_ = false;
  double unk_score_ = kNegInf;
  std::unordered_set<std::string> words_;  // the lexicon (lexicon mode) or the known words (lexicon-free)
  std::unordered_set<std::string> prefixes_;
  std::vector<LmNode> nodes_;
  std::vector<Hyp> candidates_;
  int step_ = 0;  // counts search steps; a node's (step, slot) finds its candidate
  double token_min_logp_ = kNegInf;
};

}  // namespace

PYBIND11_MODULE(_wordlm, m) {
  m.doc() = "Lexicon-free CTC beam search with a word n-gram LM and hotwords (see asr/decode/beam.py).";
  py::class_<NgramLm>(m, "NgramLm")
      .def(py::init<int, const std::vector<std::string>&>(), py::arg("order"), py::arg("vocab"))
      .def("add", &NgramLm::add, py::arg("k"), py::arg("ids"), py::arg("logprobs"), py::arg("backoffs"))
      .def("score", [](const NgramLm& lm, const std::string& word, const std::vector<std::string>& context) {
        std::vector<int> ids;
        for (const auto& w : context) ids.push_back(lm.map(w));
        return lm.score(lm.map(word), ids.data(), static_cast<int>(ids.size()));
      }, py::arg("word"), py::arg("context"));
  py::class_<Result>(m, "Result")
      .def_readonly("score", &Result::score)
      .def_readonly("tokens", &Result::tokens)
      .def_readonly("timesteps", &Result::timesteps);
  py::class_<WordLmSearch>(m, "WordLmSearch")
      .def(py::init<std::vector<std::string>, int, int, const NgramLm*, double, double, double,
                    const std::vector<std::pair<std::vector<std::string>, double>>&, int, int, double, double, int>(),
           py::arg("symbols"), py::arg("blank"), py::arg("sep"), py::arg("lm"), py::arg("lm_weight"),
           py::arg("word_score"), py::arg("unk_prefix_score"), py::arg("hotwords"), py::arg("beam_size"),
           py::arg("beam_size_token"), py::arg("beam_threshold"), py::arg("sil_score"), py::arg("nbest"),
           py::keep_alive<1, 5>())
      .def("set_known_words", &WordLmSearch::set_known_words)
      .def("set_token_min_logp", &WordLmSearch::set_token_min_logp)
      .def("set_lexicon", &WordLmSearch::set_lexicon)
      .def("decode", &WordLmSearch::decode);
}
