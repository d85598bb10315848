#pragma once
// A small JSON writer for the tool's --json outputs: values are written to text one by one, then
// put together into an object with two-space indentation.
#include <string>
#include <vector>

namespace scratchcnn::cli::json {

// A JSON string: quotes and backslashes escaped, control characters as \u00XX; other bytes
// (UTF-8) as they are.
std::string quote(const std::string& s);
// printf %.<significant>g, for outputs whose digits are fixed; null when not finite.
std::string number(double v, int significant);
// printf %.<decimals>f; null when not finite.
std::string fixed(double v, int decimals);
std::string integer(long long v);
// "[a, b, c]" of values already written.
std::string array(const std::vector<std::string>& items);
// Every element of `v` through `write`: array(v, [](double x) { return number(x, 9); }).
template <class T, class Write>
std::string array(const std::vector<T>& v, Write write) {
  std::vector<std::string> items;
  items.reserve(v.size());
  for (const T& x : v) items.push_back(write(x));
  return array(items);
}
// An array of one value per line, as a member's value: "[\n    a,\n    b\n  ]".
std::string rows(const std::vector<std::string>& items);

// An object, member by member, in the order added: "{\n  \"key\": value,\n  ...\n}\n".
class Object {
 public:
  // `value`: already JSON (quote, number, array, ...).
  Object& add(const std::string& key, const std::string& value);
  std::string str() const;

 private:
  std::string members_;
};

}  // namespace scratchcnn::cli::json
